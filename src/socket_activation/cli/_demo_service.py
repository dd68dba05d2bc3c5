"""The demo server: a stdlib HTTP server whose sockets come from :func:`resolve`.

Every response names the socket that served it (fd, name, kind, address) and where the
socket came from (systemd, inetd, launchd, bound). Datagram sockets answer each datagram with
the same description. Under systemd it reports readiness (``READY=1``, ``STATUS=``) and, when
the unit allows an fd store, parks its bound sockets there so they survive a restart.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import socketserver
import threading

from .._resolve import Resolution, ResolvedSocket
from ..integrations.socketserver import make_server

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

__all__ = ["describe", "serve"]


def describe(resolved: ResolvedSocket) -> dict[str, object]:
    """What a response says about the socket that served it."""
    return {**resolved.to_dict(), "pid": os.getpid()}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = (json.dumps(describe(self.server.resolved)) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def address_string(self) -> str:  # Unix peers have no (host, port)
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: object) -> None:
        self.server.log(f"{self.address_string()} {format % args}")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    resolved: ResolvedSocket
    log: Callable[[str], None]


def _make_server(resolved: ResolvedSocket, log: Callable[[str], None]) -> _Server:
    """The stdlib recipe: a server on the resolved socket as is (no bind(), no listen())."""
    server = make_server(resolved, _Handler, server_class=_Server)
    assert isinstance(server, _Server)
    server.resolved = resolved
    server.log = log
    return server


def _serve_datagrams(resolved: ResolvedSocket, stop: threading.Event) -> None:
    sock = resolved.socket
    payload = (json.dumps(describe(resolved)) + "\n").encode()
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            _, peer = sock.recvfrom(65536)
        except (TimeoutError, BlockingIOError, InterruptedError):
            continue
        except OSError:
            return
        if peer:
            sock.sendto(payload, peer)


def serve(
    resolution: Resolution,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
    fdstore: bool = False,
    exit_idle_time: float | None = None,
) -> None:
    """Serve every socket of *resolution* until SIGTERM/SIGINT (or *stop* is set).

    ``fdstore``: park bound sockets in the service manager's fd store (needs
    ``FileDescriptorStoreMax=`` on the unit) so a restart gets them back. ``exit_idle_time``:
    on demand, see :func:`_serve_until_idle`.
    """
    stop = stop or threading.Event()

    def log(line: str) -> None:
        print(line, file=out, flush=True)

    if exit_idle_time is not None:
        _serve_until_idle(resolution, log, exit_idle_time)
        return

    servers: list[_Server] = []
    threads: list[threading.Thread] = []
    for resolved in resolution.sockets:
        if resolved.is_connection:
            threads.append(_start(_serve_connection, resolved, log))
        elif resolved.socket.type == socket.SOCK_DGRAM:
            threads.append(_start(_serve_datagrams, resolved, stop))
        else:
            server = _make_server(resolved, log)
            servers.append(server)
            threads.append(_start(server.serve_forever, 0.2))
        log(f"serving {_line(resolved)}")
        where = resolved.sockname
        if resolved.kind == "tcp" and resolved.listening and where is not None and where.is_inet:
            host = f"[{where.host}]" if where.family == socket.AF_INET6 else str(where.host)
            host = "127.0.0.1" if where.is_any else host
            log(f"  try: curl http://{host}:{where.port}/")
        elif resolved.kind == "unix-stream" and resolved.listening:
            log(f"  try: curl --unix-socket {resolved.address} http://localhost/")
    for note in resolution.notes:
        log(f"note: {note}")
    _notify_ready(resolution, log, fdstore=fdstore)

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not any(t.is_alive() for t in threads):
                break
    finally:
        for server in servers:
            server.shutdown()
        log("stopped")


def _serve_until_idle(
    resolution: Resolution, log: Callable[[str], None], exit_idle_time: float
) -> None:
    """The demo on demand: serve its one passed stream socket with the socketserver
    integration's :func:`serve_until_idle` (accepts and idle samples in this thread, so none
    slips in between), then let the handlers finish and return. ConfigError (naming
    ``--exit-idle-time``) for anything but one listening stream socket a manager passed."""
    from .._errors import ConfigError
    from ..integrations._idle import require_inherited
    from ..integrations.socketserver import serve_until_idle

    sockets = resolution.sockets
    kinds = ", ".join(f"{r.kind} fd {r.fd}" for r in sockets) or "none"
    if len(sockets) != 1 or sockets[0].is_connection or not sockets[0].listening:
        raise ConfigError(
            f"serves one listening stream socket on demand, got: {kinds}",
            source="--exit-idle-time",
        )
    resolved = sockets[0]
    # before READY=1: a socket bound here is refused at once
    require_inherited([resolved.fd], option="--exit-idle-time")
    server = _make_server(resolved, log)
    server.daemon_threads, server.block_on_close = False, True  # server_close() drains
    log(f"serving {_line(resolved)} until idle for {exit_idle_time:g} s")
    _notify_ready(resolution, log, fdstore=False)
    try:
        serve_until_idle(server, exit_idle_time)
    finally:
        server.server_close()
    log("idle: stopped; the service manager holds the socket and starts the demo again")


def _start(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _serve_connection(resolved: ResolvedSocket, log: Callable[[str], None]) -> None:
    """Accept=yes / inetd: serve the one connection we were given."""
    sock = resolved.socket
    sock.setblocking(True)
    server = _make_server(resolved, log)
    _Handler(sock, resolved.address, server)


def _line(resolved: ResolvedSocket) -> str:
    return (
        f"fd {resolved.fd} {resolved.name!r} {resolved.kind} {resolved.address} ({resolved.source})"
    )


def _notify_ready(resolution: Resolution, log: Callable[[str], None], *, fdstore: bool) -> None:
    """Tell a service manager we are ready; park bound sockets in its fd store."""
    from ..systemd import notify as _notify

    status = f"serving {len(resolution.sockets)} socket(s)"
    result = _notify.notify(f"READY=1\nSTATUS={status}")
    if result is _notify.NotifyResult.SENT:
        log("notified the service manager: READY=1")
    if fdstore and result is _notify.NotifyResult.SENT:
        from ..systemd.fdstore import fdstore_add

        for resolved in resolution.sockets:
            if not resolved.inherited:  # inherited ones are the manager's already
                name = resolved.name if resolved.name != "unknown" else "demo"
                fdstore_add([resolved.fd], name)
                log(f"parked fd {resolved.fd} in the fd store as {name!r}")
