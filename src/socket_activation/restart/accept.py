"""``Accept=yes``: accept each connection and run one command per connection, as systemd does.

:func:`serve_connections` is what the manager does for an ``Accept=yes`` socket unit (and
``systemd-socket-activate --accept``): it accepts on every listening socket, and for each
connection starts the command with the connection at fd 3 and systemd's environment
(``service_spawn``/``build_environment``): ``LISTEN_FDS=1``, ``LISTEN_FDNAMES=connection``,
``LISTEN_PID`` the child's own pid, and for IP peers ``REMOTE_ADDR`` (an IPv4-mapped peer printed
as IPv4) and ``REMOTE_PORT``. At most *max_connections* children run at once
(``MaxConnections=``, default 64): a connection beyond that is closed at once, as systemd
drops it ("Too many incoming connections").

It runs until ``SIGTERM``/``SIGINT`` (then the children get ``SIGTERM`` and are waited for), or
until *limit* connections were accepted (then the children are waited for). The library never
prints: each event goes to *log*.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import selectors
import signal
import socket
from collections.abc import Callable, Mapping, Sequence

from .spawn import spawn_with_sockets

__all__ = ["CONNECTION_NAME", "connection_environment", "serve_connections"]

CONNECTION_NAME = "connection"  # the fd name systemd gives an Accept=yes connection (R18, R71)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def connection_environment(base: Mapping[str, str], conn: socket.socket) -> dict[str, str]:
    """*base* with ``REMOTE_ADDR``/``REMOTE_PORT`` of *conn*'s peer set (IP peers only), as
    systemd's ``service_spawn`` sets them; other stale values removed."""
    env = {k: v for k, v in base.items() if k not in ("REMOTE_ADDR", "REMOTE_PORT")}
    if conn.family not in (socket.AF_INET, socket.AF_INET6):
        return env
    try:
        peer = conn.getpeername()
    except OSError:  # already disconnected: systemd sets nothing either
        return env
    host = ipaddress.ip_address(peer[0].partition("%")[0])
    if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped is not None:
        host = host.ipv4_mapped
    env["REMOTE_ADDR"] = str(host)
    env["REMOTE_PORT"] = str(peer[1])
    return env


def serve_connections(
    listeners: Sequence[socket.socket],
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    max_connections: int = 64,
    log: Callable[[str], None] = lambda message: None,
    limit: int | None = None,
) -> int:
    """Accept on *listeners* and run *argv* once per connection; returns 0 when stopped.

    Raises ValueError for *max_connections* < 1 (systemd refuses such a unit).
    """
    if max_connections < 1:
        raise ValueError(f"MaxConnections must be at least 1, got {max_connections}")
    server = _Server(argv, env, max_connections, log)
    accepted = 0
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    previous = {sig: signal.signal(sig, _noop) for sig in (*_STOP_SIGNALS, signal.SIGCHLD)}
    old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    selector = selectors.DefaultSelector()
    try:
        for sock in listeners:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)
        while limit is None or accepted < limit:
            stop = False
            for key, _ in selector.select():
                if key.fileobj is wake_r:
                    stop = _drain_signals(wake_r) or stop
                    server.reap(block=False)
                    continue
                assert isinstance(key.fileobj, socket.socket)
                accepted += server.accept(key.fileobj)
            if stop:
                log("stopping: no more connections accepted")
                server.terminate()
                break
        server.reap(block=True)
    finally:
        selector.close()
        signal.set_wakeup_fd(old_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wake_r.close()
        wake_w.close()
    return 0


class _Server:
    """The running children, and starting one per accepted connection."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        max_connections: int,
        log: Callable[[str], None],
    ) -> None:
        self.argv, self.env, self.max, self.log = argv, env, max_connections, log
        self.children: set[int] = set()

    def accept(self, listener: socket.socket) -> int:
        """Accept one connection and serve it (or drop it past MaxConnections); 1 if one came."""
        try:
            conn, _peer = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return 0
        with conn:
            conn.setblocking(True)
            self.reap(block=False)
            if len(self.children) >= self.max:
                self.log(
                    f"Too many incoming connections ({len(self.children)}), dropping connection."
                )
                return 1
            child_env = connection_environment(self.env, conn)
            pid = spawn_with_sockets(self.argv, [conn.fileno()], [CONNECTION_NAME], child_env)
            self.children.add(pid)
            peer = child_env.get("REMOTE_ADDR", "")
            self.log(f"connection {peer} served by pid {pid}".replace("  ", " "))
        return 1

    def reap(self, *, block: bool) -> None:
        """Forget the children that exited (all of them, waiting, when *block*)."""
        while self.children:
            try:
                pid, _status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)

    def terminate(self) -> None:
        """SIGTERM to every child still running."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _drain_signals(wake: socket.socket) -> bool:
    """Read the signal numbers written by set_wakeup_fd; True when one asks to stop."""
    stop = False
    while True:
        try:
            data = wake.recv(512)
        except (BlockingIOError, InterruptedError):
            return stop
        if not data:
            return stop
        stop = stop or any(b in _STOP_SIGNALS for b in data)


def _noop(signum: int, frame: object) -> None:
    """Signals only wake the selector (set_wakeup_fd)."""
