"""The fd edge: each passed fd as the kernel sees it, diagnostics, and wrapping it once.

Anything that needs real fds at 3, 4, ... runs in a child (tests/support/activated.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path

from tests.support.activated import me, run_child, tcp, udp6, unix


def test_wrapping_gives_sockets_of_the_real_family_and_type_unchanged(
    sockets: list[socket.socket], short_dir: Path
) -> None:
    """InheritedFd.socket() wraps the fd as its real family/type, calls no listen() (a bound,
    unlistened TCP socket stays unlistened) and only changes blocking when asked."""
    abstract = f"\0sa-test-{uuid.uuid4().hex[:12]}"
    fds = [
        tcp(sockets, listen=False).fileno(),
        udp6(sockets).fileno(),
        unix(sockets, socket.SOCK_SEQPACKET, str(short_dir / "q")).fileno(),
        unix(sockets, socket.SOCK_STREAM, str(short_dir / "s")).fileno(),
        unix(sockets, socket.SOCK_DGRAM, str(short_dir / "d")).fileno(),
        unix(sockets, socket.SOCK_STREAM, abstract).fileno(),
    ]
    body = """
act = sd.systemd_activation()
out = []
for entry in act.fds:
    sock = entry.socket(nonblocking=entry.fd == 4)
    out.append([sock.fileno(), sock.family.name, sock.type.name,
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), sock.getblocking(),
                entry.socket() is sock])
report["wrapped"] = out
"""
    report = run_child(body, fds, me("6"))
    assert report["wrapped"] == [
        [3, "AF_INET", "SOCK_STREAM", 0, True, True],
        [4, "AF_INET6", "SOCK_DGRAM", 0, False, True],
        [5, "AF_UNIX", "SOCK_SEQPACKET", 1, True, True],
        [6, "AF_UNIX", "SOCK_STREAM", 1, True, True],
        [7, "AF_UNIX", "SOCK_DGRAM", 0, True, True],
        [8, "AF_UNIX", "SOCK_STREAM", 1, True, True],
    ]


def test_diagnostics_name_closed_fds_dev_null_and_regular_files(
    sockets: list[socket.socket], short_dir: Path
) -> None:
    """Notes explain each ignored fd: closed (the entrypoint-script trap), /dev/null, a regular
    file; the sockets among them are still served."""
    regular = short_dir / "data.txt"
    regular.write_text("x")
    with contextlib.ExitStack() as stack:
        null_fd = os.open(os.devnull, os.O_RDWR)
        stack.callback(os.close, null_fd)
        file_fd = os.open(regular, os.O_RDONLY)
        stack.callback(os.close, file_fd)
        body = """
act = sd.systemd_activation()
report["act"] = show(act)
try:
    act.fds[1].socket()
except ValueError as exc:
    report["wrap_error"] = [type(exc).__name__, str(exc)]
"""
        fds = [null_fd, None, file_fd, tcp(sockets).fileno()]
        report = run_child(body, fds, me("4", "a:b:c:d"))
    act = report["act"]
    assert act["notes"] == [
        "fd 3 ('a') is a character device (/dev/null), not a socket; ignored",
        "fd 4 ('b') is not open — did an entrypoint script close it?",
        f"fd 5 ('c') is a regular file ({regular}), not a socket; ignored",
    ]
    assert [e["fd"] for e in act["fds"] if e["is_listener"]] == [6]
    assert report["wrap_error"] == [
        "InheritedSocketError",
        "fd 4 ('b') is not open, not a socket",
    ]


def test_an_accepted_connection_is_reported_as_a_connection(
    sockets: list[socket.socket],
) -> None:
    """Accept=yes: fd 3 named 'connection' is a connection with REMOTE_ADDR/REMOTE_PORT, not
    a listener."""
    server = tcp(sockets)
    client = socket.create_connection(server.getsockname(), timeout=10)
    sockets.append(client)
    conn, _ = server.accept()
    sockets.append(conn)
    body = "report['act'] = show(sd.systemd_activation())"
    env = {**me("1", "connection"), "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "4711"}
    report = run_child(body, [conn.fileno()], env)
    act = report["act"]
    assert act["remote"] == ["127.0.0.1", 4711]
    (entry,) = act["fds"]
    assert (entry["name"], entry["is_connection"], entry["is_listener"]) == (
        "connection",
        True,
        False,
    )
    assert entry["peer"] == "{}:{}".format(*client.getsockname())


def test_a_closed_wrapped_socket_is_not_wrapped_again(sockets: list[socket.socket]) -> None:
    """Closing the wrapped socket closes the inherited fd; asking again names the fd instead of
    wrapping whatever the number now refers to."""
    body = """
entry = sd.systemd_activation().listeners[0]
entry.socket().close()
try:
    entry.socket()
except ValueError as exc:
    report["error"] = [type(exc).__name__, exc.fd, str(exc)]
"""
    report = run_child(body, [tcp(sockets).fileno()], me("1", "web"))
    assert report["error"] == [
        "InheritedSocketError",
        3,
        "fd 3 ('web') was already wrapped and then closed",
    ]
