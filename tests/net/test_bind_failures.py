"""Binding as systemd binds: options the kernel refuses are warnings where systemd warns, and a
failed bind leaves nothing behind, whichever option fails and wherever the socket is in the unit.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation._errors import BindError
from socket_activation._resolve import resolve
from socket_activation.net.address import ListenAddress
from socket_activation.net.bind import BindOptions, bind_address
from socket_activation.sources import load_config
from socket_activation.systemd.activation import SystemdActivation

NOT_ACTIVATED = SystemdActivation("", ())


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for Unix socket paths (the 107-byte limit)."""
    with tempfile.TemporaryDirectory(prefix="sa-bf-", dir="/tmp") as tmp:
        yield Path(tmp)


def _kernel_refuses(family: int, kind: int, level: int, option: int) -> bool:
    with socket.socket(family, kind) as probe:
        try:
            probe.setsockopt(level, option, 1)
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("address", "options", "what"),
    [
        pytest.param("{dir}/nd.sock", {"no_delay": True}, "TCP_NODELAY", id="NoDelay-on-unix"),
        pytest.param(
            "datagram:127.0.0.1:0", {"defer_accept": 5.0}, "TCP_DEFER_ACCEPT", id="Defer-on-udp"
        ),
        pytest.param(
            "127.0.0.1:0", {"receive_buffer": 2**31}, "SO_RCVBUF", id="ReceiveBuffer-too-large"
        ),
        pytest.param("127.0.0.1:0", {"send_buffer": 2**32}, "SO_SNDBUF", id="SendBuffer-too-large"),
        pytest.param(
            "{dir}/pi.sock", {"pass_packet_info": True}, "packet info", id="PassPacketInfo-unix"
        ),
        pytest.param("{dir}/ttl.sock", {"ip_ttl": 9}, "IP_TTL", id="IPTTL-on-unix"),
        pytest.param(
            "127.0.0.1:0", {"tcp_congestion": "no-such-cc"}, "TCP_CONGESTION", id="congestion"
        ),
        pytest.param(
            "{dir}/ka.sock", {"keep_alive_probes": 3}, "TCP_KEEPCNT", id="KeepAliveProbes-unix"
        ),
    ],
)
def test_an_option_the_kernel_refuses_is_a_warning_and_the_socket_is_kept(
    short_dir: Path, address: str, options: dict[str, object], what: str
) -> None:
    """socket_apply_socket_options: a refused option is a warning naming it; the socket is
    bound and listening as if the option were not there."""
    warnings: list[str] = []
    parsed = ListenAddress.parse(address.format(dir=short_dir))
    with bind_address(parsed, BindOptions(**options), warn=warnings.append) as sock:  # type: ignore[arg-type]
        assert sock.getsockname()
        assert len(warnings) == 1
        assert what in warnings[0]
        assert "failed, ignoring" in warnings[0]


@pytest.mark.parametrize(
    ("address", "options", "readback"),
    [
        pytest.param("127.0.0.1:0", {"priority": 6}, (socket.SOL_SOCKET, 12, 6), id="Priority"),
        pytest.param("127.0.0.1:0", {"mark": 7}, (socket.SOL_SOCKET, 36, 7), id="Mark"),
        pytest.param("127.0.0.1:0", {"ip_tos": 0x10}, (socket.IPPROTO_IP, 1, 0x10), id="IPTOS"),
        pytest.param("127.0.0.1:0", {"ip_ttl": 9}, (socket.IPPROTO_IP, 2, 9), id="IPTTL-v4"),
        pytest.param("[::1]:0", {"ip_ttl": 9}, (socket.IPPROTO_IPV6, 16, 9), id="IPTTL-v6-hops"),
        pytest.param("127.0.0.1:0", {"keep_alive_time": 75.0}, (6, 4, 75), id="KeepAliveTimeSec"),
        pytest.param("127.0.0.1:0", {"keep_alive_interval": 9.0}, (6, 5, 9), id="KeepAliveIntvl"),
        pytest.param("127.0.0.1:0", {"keep_alive_probes": 4}, (6, 6, 4), id="KeepAliveProbes"),
        pytest.param(
            "datagram:127.0.0.1:0", {"broadcast": True}, (socket.SOL_SOCKET, 6, 1), id="Broadcast"
        ),
        pytest.param(
            "{dir}/ps.sock", {"pass_security": True}, (socket.SOL_SOCKET, 34, 1), id="Sec"
        ),
        pytest.param(
            "datagram:127.0.0.1:0", {"pass_packet_info": True}, (0, 8, 1), id="PassPacketInfo"
        ),
        pytest.param("127.0.0.1:0", {"timestamping": "ns"}, (socket.SOL_SOCKET, 35, 1), id="ns"),
        pytest.param("127.0.0.1:0", {"timestamping": "us"}, (socket.SOL_SOCKET, 29, 1), id="us"),
    ],
)
def test_each_option_systemd_sets_after_listen_is_set(
    short_dir: Path,
    address: str,
    options: dict[str, object],
    readback: tuple[int, int, int],
) -> None:
    """The options of socket_apply_socket_options, read back from the kernel."""
    level, option, expected = readback
    warnings: list[str] = []
    parsed = ListenAddress.parse(address.format(dir=short_dir))
    with bind_address(parsed, BindOptions(**options), warn=warnings.append) as sock:  # type: ignore[arg-type]
        assert warnings == []
        assert sock.getsockopt(level, option) == expected


def test_tcp_congestion_is_set_by_name() -> None:
    """TCPCongestion=reno (always built in) reads back as reno."""
    warnings: list[str] = []
    options = BindOptions(tcp_congestion="reno")
    with bind_address(ListenAddress.parse("127.0.0.1:0"), options, warn=warnings.append) as sock:
        assert warnings == []
        assert sock.getsockopt(socket.IPPROTO_TCP, 13, 16).rstrip(b"\0") == b"reno"


def test_pass_credentials_refused_on_ipv6_tcp_warns_and_the_unit_still_binds(
    short_dir: Path,
) -> None:
    """The issue's case: PassCredentials=yes on a unit with a Unix socket and an IPv6 TCP one.
    Where the kernel refuses SO_PASSCRED on TCP (Linux 6.18), that is a note and both sockets
    are served; where it accepts it, no note and the option is set."""
    refuses = _kernel_refuses(socket.AF_INET6, socket.SOCK_STREAM, socket.SOL_SOCKET, 16)
    port = _free_port()
    unit = short_dir / "cred.socket"
    unit.write_text(
        f"[Socket]\nListenStream={short_dir}/cred.sock\nListenStream=[::1]:{port}\n"
        "PassCredentials=yes\n"
    )
    config = load_config(unit=unit, env_prefix=None, environ={})
    resolution = resolve(config, systemd=NOT_ACTIVATED, launchd=False)
    try:
        assert [s.address for s in resolution] == [f"{short_dir}/cred.sock", f"[::1]:{port}"]
        passcred = [n for n in resolution.notes if "SO_PASSCRED" in n]
        assert len(passcred) == (1 if refuses else 0), resolution.notes
        unix = resolution.sockets[0].socket
        assert unix.getsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED) == 1
    finally:
        resolution.close()


# -- a failed bind leaves no file behind ------------------------------------------------------


def _failing_line(kind: str, directory: Path, busy: socket.socket) -> tuple[str, str]:
    """(a Listen line that fails to bind, extra unit lines) for each way binding can fail."""
    if kind == "in-use":
        return f"ListenStream=127.0.0.1:{busy.getsockname()[1]}", ""
    if kind == "regular-file":
        blocker = directory / "file.sock"
        blocker.write_text("not a socket")
        return f"ListenStream={blocker}", ""
    if kind == "no-such-device":  # SO_BINDTODEVICE refused: fatal in systemd too
        return f"ListenStream=127.0.0.1:{_free_port()}", "BindToDevice=nosuchdev0\n"
    if kind == "no-such-user":  # chown of the socket file fails after bind()
        return f"ListenStream={directory}/owned.sock", "SocketUser=no-such-user-sa\n"
    raise AssertionError(kind)


def _tree(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


@pytest.mark.parametrize("position", [0, 1, 2], ids=["first", "middle", "last"])
@pytest.mark.parametrize("kind", ["in-use", "regular-file", "no-such-device", "no-such-user"])
def test_a_failed_bind_leaves_no_file_behind(short_dir: Path, kind: str, position: int) -> None:
    """Whichever socket of a three-socket unit fails, and however, the error names it and the
    socket files (and directories made for them with DirectoryMode=) bound before are gone."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        failing, extra = _failing_line(kind, short_dir, busy)
        good = [
            f"ListenStream={short_dir}/new/a.sock",
            f"ListenDatagram={short_dir}/new/deeper/b.sock",
        ]
        if kind == "no-such-device":  # BindToDevice= applies to IP sockets only
            good = [g.replace("ListenStream", "ListenSequentialPacket") for g in good]
        if kind == "no-such-user":  # SocketUser= applies to every path socket: fail on ours
            good = [f"ListenStream=@sa-bf-{os.getpid()}-a", f"ListenDatagram=@sa-bf-{position}"]
        lines = [*good]
        lines.insert(position, failing)
        unit = short_dir / "multi.socket"
        unit.write_text("[Socket]\n" + "\n".join(lines) + "\nDirectoryMode=0750\n" + extra)
        before = _tree(short_dir)
        config = load_config(unit=unit, env_prefix=None, environ={})
        with pytest.raises(BindError) as caught:
            resolve(config, systemd=NOT_ACTIVATED, launchd=False)
        assert _tree(short_dir) == before
        assert caught.value.errno in (errno.EADDRINUSE, errno.EEXIST, errno.ENODEV, errno.EINVAL)
