"""sock_diag's view of a real listening socket: queue and connections, TCP and Unix.

Also the kernel fact idle exit rests on: a connection queued on a listener survives the close
of one reference to it (the service manager keeps another) and is reset only with the last.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.net.sockdiag import Activity, SockDiagError, listener_activity

Listener = tuple[socket.socket, Callable[[], socket.socket]]


def _wait_for(
    sock: socket.socket, want: Callable[[Activity], bool], timeout: float = 2.0
) -> Activity:
    """The kernel's bookkeeping lags a packet's round trip on loopback: poll briefly."""
    deadline = time.monotonic() + timeout
    while True:
        seen = listener_activity(sock)
        if want(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.005)


def _tcp(host: str, family: socket.AddressFamily) -> Iterator[Listener]:
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.bind((host, 0))
    except OSError as exc:
        listener.close()
        pytest.skip(f"cannot bind {host}: {exc}")
    listener.listen(8)
    port = listener.getsockname()[1]
    target = "127.0.0.1" if host == "0.0.0.0" else host

    def connect() -> socket.socket:
        return socket.create_connection((target, port), timeout=5)

    with listener:
        yield listener, connect


@pytest.fixture(params=["tcp4", "tcp6", "tcp-any", "unix-path", "unix-abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    kind = request.param
    if kind == "tcp4":
        yield from _tcp("127.0.0.1", socket.AF_INET)
    elif kind == "tcp6":
        yield from _tcp("::1", socket.AF_INET6)
    elif kind == "tcp-any":
        yield from _tcp("0.0.0.0", socket.AF_INET)
    else:
        address: str | bytes = (
            str(tmp_path / "l.sock") if kind == "unix-path" else f"\0sa-diag-{os.getpid()}".encode()
        )
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(8)

        def connect() -> socket.socket:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(address)
            return client

        with listener:
            yield listener, connect


def test_activity_follows_a_connection_through_its_life(listener: Listener) -> None:
    sock, connect = listener
    assert listener_activity(sock) == Activity(queued=0, connections=0)
    assert listener_activity(sock).idle
    client = connect()
    queued = _wait_for(sock, lambda a: a.queued == 1)
    assert queued.queued == 1
    # TCP counts the queued child as a connection too; a queued Unix one has no name yet
    assert queued.connections == (1 if sock.family != socket.AF_UNIX else 0)
    assert not queued.idle
    accepted, _ = sock.accept()
    assert _wait_for(sock, lambda a: a.connections == 1) == Activity(0, 1)
    client.close()  # the server still holds its end (CLOSE_WAIT): still open
    time.sleep(0.05)
    assert listener_activity(sock) == Activity(queued=0, connections=1)
    accepted.close()
    assert _wait_for(sock, lambda a: a.idle) == Activity(0, 0)


def test_connections_of_another_listener_do_not_count(listener: Listener) -> None:
    sock, _connect = listener
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(4)
        with socket.create_connection(other.getsockname()) as client:
            served, _ = other.accept()
            with served, client:
                assert listener_activity(sock) == Activity(0, 0)
                assert listener_activity(other) == Activity(0, 1)


def test_unsupported_sockets_are_refused_naming_the_fd() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        with pytest.raises(SockDiagError, match=f"fd {udp.fileno()}"):
            listener_activity(udp)


def test_a_socket_that_does_not_listen_is_not_found() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(SockDiagError, match="no listening TCP socket"):
            listener_activity(sock)


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_queued_connection_survives_closing_a_duplicate(family: str, tmp_path: Path) -> None:
    """What systemd relies on: the service closes its fd, the manager's keeps the queue."""
    if family == "tcp":
        manager = socket.socket()
        manager.bind(("127.0.0.1", 0))
        address: tuple[str, int] | str = manager.getsockname()
    else:
        manager = socket.socket(socket.AF_UNIX)
        address = str(tmp_path / "m.sock")
        manager.bind(address)
    manager.listen(8)
    with manager:
        service = manager.dup()  # the service's inherited reference
        client = socket.socket(manager.family)
        client.settimeout(5)
        with client:
            client.connect(address)
            client.sendall(b"ping")
            service.close()  # the service exits without accepting
            time.sleep(0.05)
            accepted, _ = manager.accept()  # the next start accepts it
            with accepted:
                assert accepted.recv(4) == b"ping"
                accepted.sendall(b"pong")
                assert client.recv(4) == b"pong"


def test_closing_the_last_reference_resets_queued_connections() -> None:
    """Why idle exit is refused on sockets nobody else holds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    with client:
        time.sleep(0.05)
        listener.close()
        with pytest.raises(ConnectionResetError):  # the RST came with the close
            client.recv(1)
