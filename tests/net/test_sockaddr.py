"""SocketAddress: the typed address of a real socket, printed as the canonical text."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.net.sockaddr import SocketAddress
from socket_activation.net.sockinfo import describe_socket, format_sockaddr
from tests.conftest import require


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temp dir with a short path (sun_path holds 107 bytes)."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="sa-") as d:
        yield Path(d)


def _tcp(family: int, host: str, *, v6only: bool | None = None) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if v6only is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        sock.bind((host, 0))
        sock.listen()
    except OSError as exc:
        sock.close()
        require(False, f"cannot bind {host}: {exc}")
    return sock


def _unix(name: str | None, stype: int = socket.SOCK_STREAM) -> Callable[[Path], socket.socket]:
    def make(directory: Path) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, stype)
        if name is not None:
            sock.bind(name.replace("{dir}", str(directory)))
        return sock

    return make


_ABSTRACT = f"\0sa-test-{os.getpid()}-{os.urandom(4).hex()}"

# (make a socket, expected text with {port}/{dir}, inet, unix path, abstract, unnamed, ip)
ROWS = [
    pytest.param(
        lambda _d: _tcp(socket.AF_INET, "127.0.0.1"),
        "127.0.0.1:{port}",
        (True, False, False, False),
        "127.0.0.1",
        id="tcp-v4",
    ),
    pytest.param(
        lambda _d: _tcp(socket.AF_INET, "0.0.0.0"),
        "0.0.0.0:{port}",
        (True, False, False, False),
        "0.0.0.0",
        id="tcp-v4-any",
    ),
    pytest.param(
        lambda _d: _tcp(socket.AF_INET6, "::1"),
        "[::1]:{port}",
        (True, False, False, False),
        "::1",
        id="tcp-v6",
    ),
    pytest.param(
        lambda _d: _tcp(socket.AF_INET6, "::", v6only=False),
        "[::]:{port}",
        (True, False, False, False),
        "::",
        id="tcp-v6-any",
    ),
    pytest.param(
        lambda _d: _tcp(socket.AF_INET6, "::ffff:127.0.0.1", v6only=False),
        "[::ffff:127.0.0.1]:{port}",
        (True, False, False, False),
        "127.0.0.1",  # v4-mapped: the IP is the IPv4 one
        id="tcp-v4-mapped",
    ),
    pytest.param(
        _unix("{dir}/app.sock"),
        "{dir}/app.sock",
        (False, True, False, False),
        None,
        id="unix-path",
    ),
    pytest.param(
        _unix("{dir}/log.sock", socket.SOCK_DGRAM),
        "{dir}/log.sock",
        (False, True, False, False),
        None,
        id="unix-dgram-path",
    ),
    pytest.param(
        _unix(_ABSTRACT),
        "@" + _ABSTRACT[1:],
        (False, False, True, False),
        None,
        id="abstract",
    ),
    pytest.param(_unix(None), "<unnamed>", (False, False, False, True), None, id="unnamed"),
]


@pytest.mark.parametrize(("make", "text", "flags", "ip"), ROWS)
def test_the_address_of_a_real_socket_is_typed_and_prints_canonically(
    short_dir: Path,
    make: Callable[[Path], socket.socket],
    text: str,
    flags: tuple[bool, bool, bool, bool],
    ip: str | None,
) -> None:
    """from_sockaddr(getsockname()) gives the right shape; str() is format_sockaddr's text."""
    with make(short_dir) as sock:
        raw = sock.getsockname()
        address = SocketAddress.from_sockaddr(sock.family, raw)
        port = raw[1] if isinstance(raw, tuple) else None
        expected = text.format(port=port, dir=short_dir)
        assert str(address) == expected
        assert format_sockaddr(sock.family, raw) == expected
        assert describe_socket(sock).sockname == address
        assert describe_socket(sock).address == expected
        shape = (address.is_inet, address.is_unix_path, address.is_abstract, address.is_unnamed)
        assert shape == flags
        assert address.port == port
        assert address.ip == (None if ip is None else ipaddress.ip_address(ip))
        assert address.is_any == (ip in ("0.0.0.0", "::"))
        if address.is_unix_path:
            assert address.path == expected
        if address.is_abstract:
            assert address.path == _ABSTRACT[1:]


def test_a_connected_socket_has_a_typed_peer() -> None:
    """describe_socket gives an accepted connection's peer as a SocketAddress too."""
    with (
        _tcp(socket.AF_INET, "127.0.0.1") as listener,
        socket.create_connection(listener.getsockname()) as client,
    ):
        conn, _ = listener.accept()
        with conn:
            info = describe_socket(conn)
            assert info.peername == SocketAddress.from_sockaddr(
                socket.AF_INET, client.getsockname()
            )
            assert info.peer == f"127.0.0.1:{client.getsockname()[1]}"
            assert info.is_connection
    with _tcp(socket.AF_INET, "127.0.0.1") as listener:
        info = describe_socket(listener)
        assert info.peername is None
        assert info.peer is None


@pytest.mark.parametrize(
    ("family", "raw", "text", "ip"),
    [
        pytest.param(
            socket.AF_INET6,
            ("fe80::1%lo", 80, 0, 1),
            "[fe80::1%lo]:80%1",
            "fe80::1",
            id="link-local-zone-not-in-ip",
        ),
        pytest.param(socket.AF_UNIX, b"\0name", "@name", None, id="abstract-bytes"),
        pytest.param(socket.AF_UNIX, b"", "<unnamed>", None, id="unnamed-bytes"),
        pytest.param(getattr(socket, "AF_VSOCK", 40), (3, 1234), "vsock:3:1234", None, id="vsock"),
        pytest.param(socket.AF_PACKET, ("lo", 0), "('lo', 0)", None, id="other"),
    ],
)
def test_sockaddr_shapes_no_loopback_socket_gives(
    family: int, raw: object, text: str, ip: str | None
) -> None:
    """Shapes a loopback test cannot bind print as format_sockaddr always printed them."""
    address = SocketAddress.from_sockaddr(family, raw)
    assert str(address) == text
    assert address.ip == (None if ip is None else ipaddress.ip_address(ip))


def test_an_unreadable_address_prints_unknown() -> None:
    """When getsockname() fails the address is '<unknown>' and is of no shape."""
    address = SocketAddress.unknown(socket.AF_INET)
    assert str(address) == "<unknown>"
    shape = (address.is_inet, address.is_unix_path, address.is_abstract, address.is_unnamed)
    assert shape == (False, False, False, False)
