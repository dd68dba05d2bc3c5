"""The resolver: inherited sockets first, matched to the config; the rest bound."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from socket_activation import ServerConfig
from socket_activation._resolve import resolve
from socket_activation.net.sockinfo import describe_fd
from socket_activation.systemd import activation as _systemd
from socket_activation.systemd.activation import InheritedFd, SystemdActivation, _reset_cache
from socket_activation.testing import Activation
from tests.conftest import require, require_tool


@pytest.fixture(autouse=True)
def fresh_snapshot() -> Iterator[None]:
    _reset_cache()
    yield
    _reset_cache()


class Passed:
    """Real sockets standing in for what a service manager passed."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.names: list[str] = []

    def tcp(self, name: str = "unknown", host: str = "127.0.0.1") -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((host, 0))
        sock.listen()
        return self._add(sock, name)

    def udp(self, name: str = "unknown", host: str = "127.0.0.1") -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        return self._add(sock, name)

    def unix(self, path: str, name: str = "unknown") -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen()
        return self._add(sock, name)

    def _add(self, sock: socket.socket, name: str) -> socket.socket:
        self.sockets.append(sock)
        self.names.append(name)
        return sock

    def activation(self) -> SystemdActivation:
        fds = tuple(
            InheritedFd(s.fileno(), n, describe_fd(s.fileno()))
            for s, n in zip(self.sockets, self.names, strict=True)
        )
        return SystemdActivation("systemd", fds)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def passed() -> Iterator[Passed]:
    p = Passed()
    yield p
    # resolve() wrapped the inherited fds in socket objects of its own: let go of those, so
    # each fd is closed once, by its original owner
    for wrapped in _systemd._wrapped.values():
        wrapped.detach()
    p.close()


def port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def test_defaults_only_serve_everything_inherited_and_bind_nothing(passed: Passed) -> None:
    """With no address configured, what the manager passed is the configuration."""
    web = passed.tcp("web")
    dns = passed.udp("dns")
    res = resolve(ServerConfig(), systemd=passed.activation())
    assert [(s.fd, s.name, s.kind, s.source) for s in res] == [
        (web.fileno(), "web", "tcp", "systemd"),
        (dns.fileno(), "dns", "udp", "systemd"),
    ]
    assert res.sockets[0].address == f"127.0.0.1:{port(web)}"
    assert res.sockets[0].listening
    assert not res.sockets[1].listening
    assert res.activated


def test_matched_by_name_first(passed: Passed) -> None:
    """A configured socket takes the inherited fd with its FileDescriptorName."""
    passed.tcp("api")
    metrics = passed.tcp("metrics")
    config = ServerConfig(listen=[{"address": "127.0.0.1:9999", "name": "metrics"}])
    res = resolve(config, systemd=passed.activation())
    assert [(s.fd, s.name) for s in res] == [(metrics.fileno(), "metrics")]
    assert any("'api'" in n and "not served" in n for n in res.notes)


def test_matched_by_address_with_normalised_any_and_v4_mapped(passed: Passed) -> None:
    """'[::]:P' in the config matches an inherited 0.0.0.0:P; names absent."""
    sock = passed.tcp(host="0.0.0.0")
    config = ServerConfig(listen=[f"[::]:{port(sock)}"])
    res = resolve(config, systemd=passed.activation())
    assert [s.fd for s in res] == [sock.fileno()]
    assert res.notes == ()


def test_address_match_beats_order(passed: Passed) -> None:
    """Two unnamed fds: each configured address gets its own, not the first in order."""
    a = passed.tcp()
    b = passed.tcp()
    config = ServerConfig(listen=[f"127.0.0.1:{port(b)}", f"127.0.0.1:{port(a)}"])
    res = resolve(config, systemd=passed.activation())
    assert [s.fd for s in res] == [b.fileno(), a.fileno()]


def test_matched_by_order_when_nothing_else_matches_and_noted(passed: Passed) -> None:
    """Unnamed fds whose addresses differ serve configured ones by order, with a note."""
    a = passed.tcp()
    config = ServerConfig(listen=["127.0.0.1:1"])
    res = resolve(config, systemd=passed.activation())
    assert [s.fd for s in res] == [a.fileno()]
    assert any("by order" in n for n in res.notes)


def test_missing_sockets_are_bound_and_extra_ones_reported(passed: Passed) -> None:
    """A configured address nobody passed is bound; a passed fd nobody asked for is noted."""
    web = passed.tcp("web")
    passed.tcp("stray")
    config = ServerConfig(
        listen=[{"address": "127.0.0.1:0", "name": "web"}, {"address": "127.0.0.1:0", "name": "x"}]
    )
    res = resolve(config, systemd=passed.activation())
    try:
        assert [(s.name, s.source) for s in res] == [("web", "systemd"), ("x", "bound")]
        assert res.sockets[0].fd == web.fileno()
        assert any("'stray'" in n and "not served" in n for n in res.notes)
    finally:
        res.close()


def test_kind_must_match_a_tcp_config_never_takes_a_udp_fd(passed: Passed) -> None:
    """An inherited UDP socket named 'web' does not serve a configured TCP 'web'."""
    passed.udp("web")
    config = ServerConfig(listen=[{"address": "127.0.0.1:0", "name": "web"}])
    res = resolve(config, systemd=passed.activation())
    try:
        assert [(s.kind, s.source) for s in res] == [("tcp", "bound")]
    finally:
        res.close()


def test_http3_takes_the_inherited_datagram_socket(passed: Passed) -> None:
    """With http3, the UDP twin is the inherited datagram socket on the same address."""
    tcp = passed.tcp()
    udp = passed.udp()
    config = ServerConfig(host="127.0.0.1", port=port(tcp), http3=True)
    # the UDP socket has another port: matched by order, as UDP
    res = resolve(config, systemd=passed.activation())
    assert [(s.fd, s.kind) for s in res] == [(tcp.fileno(), "tcp"), (udp.fileno(), "udp")]


def test_not_activated_binds_the_config(tmp_path: Path) -> None:
    """Without inherited fds every configured socket is bound, TCP and UDP on one port."""
    config = ServerConfig(port=0, http3=True)
    res = resolve(config, systemd=SystemdActivation("", ()), launchd=False)
    try:
        assert [(s.kind, s.source) for s in res] == [("tcp", "bound"), ("udp", "bound")]
        assert len({s.socket.getsockname()[1] for s in res}) == 1
        assert not res.activated
    finally:
        res.close()
    assert all(s.socket.fileno() == -1 for s in res)


def test_workers_get_reuseport_sockets_when_bound_and_shared_ones_when_inherited(
    passed: Passed,
) -> None:
    """Bound: one SO_REUSEPORT socket per worker. Inherited: every worker shares the fd."""
    res = resolve(ServerConfig(port=0, workers=3), systemd=SystemdActivation("", ()))
    try:
        assert len({s.fileno() for s in res.sockets[0].workers}) == 3
        assert len({id(res.for_worker(i)[0]) for i in range(3)}) == 3
    finally:
        res.close()
    sock = passed.tcp()
    res = resolve(ServerConfig(workers=3), systemd=passed.activation())
    assert {s.fileno() for s in res.sockets[0].workers} == {sock.fileno()}


def test_bind_failure_closes_what_was_already_bound() -> None:
    """If the second socket cannot be bound, the first is closed before the error escapes."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = ServerConfig(listen=["127.0.0.1:0", f"127.0.0.1:{port(taken)}"])
        before = _open_fds()
        with pytest.raises(OSError, match="already in use"):
            resolve(config, systemd=SystemdActivation("", ()))
        assert _open_fds() == before


def _open_fds() -> set[int]:
    return {int(p.name) for p in Path("/proc/self/fd").iterdir()}


def test_inherited_sockets_are_not_relistened_and_kept_unchanged(passed: Passed) -> None:
    """resolve never calls listen() again or changes options, except non-blocking mode."""
    sock = passed.tcp()
    backlog_before = _listen_backlog(sock)
    first = resolve(ServerConfig(), systemd=passed.activation(), nonblocking=False)
    assert first.sockets[0].socket.getblocking() is True
    again = resolve(ServerConfig(), systemd=passed.activation())
    assert again.sockets[0].socket is first.sockets[0].socket, "one owner per fd"
    assert again.sockets[0].socket.getblocking() is False
    assert _listen_backlog(sock) == backlog_before, "listen() was not called again"


def _listen_backlog(sock: socket.socket) -> int:
    """The accept-queue limit of a listening TCP socket: `ss -ltn` shows it as Send-Q."""
    out = subprocess.run(
        [require_tool("ss"), "-ltnH", f"sport = :{port(sock)}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[2])


# what a child of the server inherited: LISTEN_* variables and open sockets
PROBE = (
    "import os, json, stat\n"
    "def sock(f):\n"
    "    try: return stat.S_ISSOCK(os.fstat(f).st_mode)\n"
    "    except OSError: return False\n"
    "print(json.dumps({'env': sorted(k for k in os.environ if k.startswith('LISTEN_')),"
    " 'sockets': [f for f in range(64) if sock(f)]}))"
)


def test_nothing_leaks_to_children_after_resolve(
    systemd_activation_env: Callable[..., AbstractContextManager[Activation]],
) -> None:
    """After resolve, a child started without close_fds (only close-on-exec protects the
    fds) sees no LISTEN_* and none of the passed sockets."""
    import json

    with systemd_activation_env(["127.0.0.1:0"], names="web"):
        res = resolve()
        assert [(s.fd, s.name, s.source) for s in res] == [(3, "web", "systemd")]
        out = subprocess.run(
            [sys.executable, "-c", PROBE],
            close_fds=False,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    assert json.loads(out) == {"env": [], "sockets": []}


def test_unix_socket_matched_by_path(passed: Passed) -> None:
    """A configured Unix path matches the inherited socket bound there."""
    path = f"/tmp/sa-{uuid.uuid4().hex[:8]}.sock"
    try:
        sock = passed.unix(path)
        res = resolve(ServerConfig(uds=path), systemd=passed.activation())
        assert [(s.fd, s.kind, s.address) for s in res] == [(sock.fileno(), "unix-stream", path)]
    finally:
        Path(path).unlink(missing_ok=True)


def test_close_removes_the_socket_files_resolve_created(tmp_path: Path) -> None:
    """Closing a resolution removes the Unix socket files it bound, and nothing else."""
    mine = tmp_path / "mine.sock"
    theirs = tmp_path / "theirs.sock"
    config = ServerConfig(listen=[str(mine), str(theirs)])
    res = resolve(config, systemd=SystemdActivation("", ()), launchd=False)
    assert mine.exists()
    theirs.unlink()  # replaced by someone else's file since
    theirs.write_text("not ours")
    res.close()
    assert not mine.exists()
    assert theirs.read_text() == "not ours"


def _abstract_unix(name: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("\0" + name)
    sock.listen()
    return sock


@pytest.mark.parametrize(
    ("target_host", "configured"),
    [
        pytest.param("127.0.0.1", "127.0.0.1:{port}", id="v4"),
        pytest.param("::ffff:127.0.0.1", "127.0.0.1:{port}", id="v4-mapped-inherited"),
        pytest.param("127.0.0.1", "localhost:{port}", id="host-name"),
        pytest.param("::1", "[::1]:{port}", id="v6"),
        pytest.param("0.0.0.0", "{port}", id="port-only-any"),
    ],
)
def test_ip_matched_by_typed_address_not_by_order(
    passed: Passed, target_host: str, configured: str
) -> None:
    """An unnamed decoy passed first loses to the fd whose bound IP and port match the config."""
    passed.tcp(host="127.0.0.2")
    try:
        target = passed.tcp(host=target_host)
    except OSError as exc:
        require(False, f"cannot bind {target_host}: {exc}")
        raise
    config = ServerConfig(listen=[configured.format(port=port(target))])
    res = resolve(config, systemd=passed.activation())
    assert [s.fd for s in res] == [target.fileno()]
    assert not any("by order" in note for note in res.notes)


def test_abstract_socket_matched_by_name_not_by_order(passed: Passed) -> None:
    """'@name' in the config takes the inherited abstract socket of that name."""
    name = f"sa-test-{uuid.uuid4().hex[:8]}"
    decoy = passed._add(_abstract_unix(name + "-decoy"), "unknown")
    target = passed._add(_abstract_unix(name), "unknown")
    res = resolve(ServerConfig(listen=[f"@{name}"]), systemd=passed.activation())
    assert [(s.fd, s.address) for s in res] == [(target.fileno(), f"@{name}")]
    assert decoy.fileno() not in [s.fd for s in res]
    assert not any("by order" in note for note in res.notes)


def test_close_leaves_inherited_and_abstract_sockets_alone(passed: Passed, tmp_path: Path) -> None:
    """close() removes only files it bound: not an inherited socket's file, never an abstract."""
    inherited_path = tmp_path / "inherited.sock"
    passed.unix(str(inherited_path), "web")
    name = f"sa-test-{uuid.uuid4().hex[:8]}"
    config = ServerConfig(listen=[{"address": str(inherited_path), "name": "web"}, f"@{name}"])
    res = resolve(config, systemd=passed.activation())
    assert [s.source for s in res] == ["systemd", "bound"]
    assert res.sockets[1].sockname is not None
    assert res.sockets[1].sockname.is_abstract
    res.close()
    assert inherited_path.exists()
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(inherited_path))  # still served by the inherited socket


@pytest.mark.parametrize(("nonblocking", "blocking"), [(True, False), (False, True)])
def test_bound_sockets_follow_the_nonblocking_choice(nonblocking: bool, blocking: bool) -> None:
    """nonblocking=False binds blocking sockets, as systemd passes them with NonBlocking=no
    (what exec and supervise hand on); the default binds them non-blocking for in-process use."""
    config = ServerConfig.model_validate({"listen": ["127.0.0.1:0", "datagram:127.0.0.1:0"]})
    resolution = resolve(
        config, nonblocking=nonblocking, systemd=SystemdActivation("", ()), launchd=False
    )
    try:
        assert [s.socket.getblocking() for s in resolution] == [blocking, blocking]
    finally:
        resolution.close()
