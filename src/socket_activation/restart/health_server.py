"""The HTTP side of ``supervise --health``: ``/livez`` and ``/readyz`` from a thread of its own.

:class:`HealthServer` serves a :class:`~socket_activation.restart.health.Health` on a listening
socket (TCP or Unix) with the stdlib's threading HTTP server: each probe gets a thread and at
most :data:`_REQUEST_TIMEOUT` seconds, so a client that never finishes its request holds up no
other probe. ``GET`` and ``HEAD``; other paths are 404. Probes are not logged.
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading

from ..integrations.socketserver import make_server
from .health import Health, Probe

__all__ = ["HealthServer"]

# A probe connection that sends nothing gets this long (seconds) before it is closed.
_REQUEST_TIMEOUT = 5.0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _REQUEST_TIMEOUT

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        probe = {"/livez": self.server.health.livez, "/readyz": self.server.health.readyz}.get(path)
        if probe is None:
            result = Probe(False, f"no such endpoint: {path} (try /livez or /readyz)")
            status = 404
        else:
            result = probe()
            status = result.status
        body = result.body()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def address_string(self) -> str:  # Unix peers have no (host, port)
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds would flood the log: they are not logged."""


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    health: Health


class HealthServer:
    """Serve *health* on the listening socket *sock* from a thread of its own.

    :meth:`start` begins serving; :meth:`close` stops it and closes *sock*.
    """

    def __init__(self, sock: socket.socket, health: Health) -> None:
        sock.setblocking(True)
        server = make_server(sock, _Handler, server_class=_Server)
        assert isinstance(server, _Server)
        server.health = health
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.2,), name="health", daemon=True
        )

    @property
    def address(self) -> str:
        """Where the endpoints answer: ``host:port`` or a Unix socket path."""
        name = self._server.socket.getsockname()
        if isinstance(name, tuple):
            host = str(name[0])
            return f"[{host}]:{name[1]}" if ":" in host else f"{host}:{name[1]}"
        return name.decode() if isinstance(name, bytes) else str(name)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
