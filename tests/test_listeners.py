"""The listener API on real loopback sockets: strategies, options, cleanup and errors."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest

import socket_activation.net.bind as bind_module
from socket_activation import (
    AddressInUseError,
    BindError,
    ServerConfig,
    create_listener,
    create_listeners,
    create_udp_listener,
    create_udp_listeners,
    has_so_reuseport,
)
from socket_activation.listeners import bound_port, create_tcp_udp_listeners
from tests.conftest import require


def close_all(sockets: list[socket.socket]) -> None:
    for sock in {id(s): s for s in sockets}.values():
        sock.close()


@pytest.fixture
def ipv6() -> None:
    require(socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"), "IPv6 not available")


def test_create_listener_is_bound_listening_nonblocking() -> None:
    """A TCP listener is bound to the config's address, listening, non-blocking."""
    sock = create_listener(ServerConfig(host="127.0.0.1", port=0, backlog=7))
    with sock:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        assert not os.get_inheritable(sock.fileno())


def test_dual_stack_bind_accepts_ipv4_and_ipv6(ipv6: None) -> None:
    """Binding '::' sets IPV6_V6ONLY=0: clients reach it through 127.0.0.1 and ::1."""
    with create_listener(ServerConfig(host="::", port=0)) as sock:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        port = bound_port(sock)
        for host in ("127.0.0.1", "::1"):
            with socket.create_connection((host, port), timeout=5):
                conn, _ = _accept(sock)
                conn.close()


def test_any_host_binds_dual_stack(ipv6: None) -> None:
    """host='' means any address: '::' dual-stack, like a port-only Listen*= line."""
    with create_listener(ServerConfig(host="", port=0)) as sock:
        assert sock.getsockname()[0] == "::"
        with socket.create_connection(("127.0.0.1", bound_port(sock)), timeout=5):
            _accept(sock)[0].close()


def _accept(sock: socket.socket) -> tuple[socket.socket, object]:
    sock.settimeout(5)
    try:
        return sock.accept()
    finally:
        sock.setblocking(False)


def test_count_below_one_is_a_value_error() -> None:
    """create_listeners refuses count < 1 (and non-integers) with ValueError."""
    for count in (0, -1):
        with pytest.raises(ValueError, match="count must be a positive integer"):
            create_listeners(ServerConfig(port=0), count)


def test_single_worker_has_no_reuseport_so_a_second_instance_fails_fast() -> None:
    """count=1 binds without SO_REUSEPORT: a second server on the address gets EADDRINUSE."""
    (first,) = create_listeners(ServerConfig(port=0), 1)
    with first:
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        with pytest.raises(AddressInUseError) as info:
            create_listeners(ServerConfig(port=bound_port(first)), 1)
        assert info.value.errno == errno.EADDRINUSE
        assert "already in use — is another server running?" in str(info.value)
        assert f"127.0.0.1:{bound_port(first)}" in str(info.value)


def test_reuseport_gives_each_worker_its_own_socket_and_spreads_connections() -> None:
    """count>1 binds one SO_REUSEPORT socket per worker on one port; the kernel uses several."""
    require(has_so_reuseport(), "SO_REUSEPORT not available")
    socks = create_listeners(ServerConfig(port=0), 4)
    try:
        assert len({s.fileno() for s in socks}) == 4
        assert len({bound_port(s) for s in socks}) == 1
        for s in socks:
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        port = bound_port(socks[0])
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
        reached = set()
        for s in socks:
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                conn.close()
                reached.add(s.fileno())
        for c in clients:
            c.close()
        assert len(reached) >= 2, "the kernel should spread 64 connections over several sockets"
    finally:
        close_all(socks)


def test_reuseport_group_refuses_to_join_another_process_group() -> None:
    """A new group on an address another server holds with SO_REUSEPORT fails, not joins."""
    require(has_so_reuseport(), "SO_REUSEPORT not available")
    old = create_listeners(ServerConfig(port=0), 2)
    try:
        with pytest.raises(AddressInUseError):
            create_listeners(ServerConfig(port=bound_port(old[0])), 2)
    finally:
        close_all(old)


def test_shared_strategy_returns_one_socket_count_times() -> None:
    """shared=True gives every worker the same fd."""
    socks = create_listeners(ServerConfig(port=0), 3, shared=True)
    try:
        assert len(socks) == 3
        assert len({s.fileno() for s in socks}) == 1
    finally:
        close_all(socks)


def test_partial_failure_closes_every_socket_already_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the third worker's bind fails, the first two are closed before the error escapes."""
    require(has_so_reuseport(), "SO_REUSEPORT not available")
    made: list[socket.socket] = []
    real = bind_module.bind_address
    calls = iter(range(100))

    def failing_third(*args: object, **kwargs: object) -> socket.socket:
        if next(calls) == 3:  # 0 is the probe, 1 and 2 are workers
            raise BindError(errno.EMFILE, "injected: too many open files")
        sock = real(*args, **kwargs)  # type: ignore[arg-type]
        made.append(sock)
        return sock

    monkeypatch.setattr(bind_module, "bind_address", failing_third)
    with pytest.raises(BindError, match="injected"):
        create_listeners(ServerConfig(port=0), 4)
    assert len(made) == 3
    assert all(s.fileno() == -1 for s in made), "every socket made before the failure is closed"


def test_udp_listener_is_bound_without_listen() -> None:
    """The UDP twin is a bound datagram socket, non-blocking, and receives datagrams."""
    with create_udp_listener(ServerConfig(port=0)) as sock:
        assert sock.type == socket.SOCK_DGRAM
        assert sock.getblocking() is False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"ping", ("127.0.0.1", bound_port(sock)))
        sock.settimeout(5)
        assert sock.recvfrom(16)[0] == b"ping"


def test_udp_listeners_per_worker_with_reuseport() -> None:
    """create_udp_listeners gives each worker an SO_REUSEPORT UDP socket on one port."""
    require(has_so_reuseport(), "SO_REUSEPORT not available")
    socks = create_udp_listeners(ServerConfig(port=0), 3)
    try:
        assert len({s.fileno() for s in socks}) == 3
        assert len({bound_port(s) for s in socks}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in socks)
    finally:
        close_all(socks)


def test_tcp_and_udp_twins_share_a_port_even_with_port_zero() -> None:
    """HTTP/3 next to HTTP/1: with port 0, TCP and UDP land on the same port."""
    tcp, udp = create_tcp_udp_listeners(ServerConfig(port=0), 2)
    try:
        ports = {bound_port(s) for s in tcp + udp}
        assert len(ports) == 1
        assert all(s.type == socket.SOCK_STREAM for s in tcp)
        assert all(s.type == socket.SOCK_DGRAM for s in udp)
    finally:
        close_all(tcp + udp)


def test_permission_denied_is_explained_and_keeps_errno() -> None:
    """Binding port 80 unprivileged fails with EACCES and a message that says why."""
    require(os.geteuid() == 0, "needs root to drop to an unprivileged user")
    code = (
        "import errno, sys\n"
        "from socket_activation import ServerConfig, create_listener, BindError\n"
        "try:\n"
        "    create_listener(ServerConfig(host='127.0.0.1', port=80))\n"
        "except BindError as e:\n"
        "    print(e.errno == errno.EACCES, isinstance(e, OSError), e.strerror)\n"
    )
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.startswith("True True permission denied binding to 127.0.0.1:80"), out
    assert "CAP_NET_BIND_SERVICE" in out
