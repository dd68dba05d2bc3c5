"""The apps benchmarks/first_request.py starts through systemd: ``python -m ... VARIANT``.

Each answers ``GET /`` with a few bytes on the socket systemd passed at fd 3:

- ``stdlib-bare``: http.server on ``socket.socket(fileno=3)``, no library (the baseline);
- ``stdlib-lib``: the same handler through ``resolve()`` + ``integrations.socketserver`` with
  ``serve_until_idle`` (READY=1 and idle exit included);
- ``uvicorn-bare``: ``uvicorn.run(app, fd=3)``, no library;
- ``uvicorn-lib``: ``integrations.uvicorn.run(app, exit_idle_time=...)``.
"""

from __future__ import annotations

import sys
from typing import Any

IDLE = 1.0


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def _handler() -> Any:
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def stdlib_bare() -> None:
    import http.server
    import socket

    server = http.server.HTTPServer(("", 0), _handler(), bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=3)
    server.serve_forever()


def stdlib_lib() -> None:
    import socket_activation
    from socket_activation.integrations.socketserver import make_server, serve_until_idle

    server = make_server(socket_activation.resolve().stream[0], _handler())
    socket_activation.ready()
    serve_until_idle(server, IDLE)
    server.server_close()


def main() -> None:
    variant = sys.argv[1]
    if variant == "stdlib-bare":
        stdlib_bare()
    elif variant == "stdlib-lib":
        stdlib_lib()
    elif variant == "uvicorn-bare":
        import uvicorn

        uvicorn.run(asgi_app, fd=3, log_level="warning", lifespan="off")
    elif variant == "uvicorn-lib":
        from socket_activation.integrations.uvicorn import run

        run(asgi_app, log_level="warning", lifespan="off", exit_idle_time=IDLE)
    else:
        raise SystemExit(f"unknown variant {variant!r}")


if __name__ == "__main__":
    main()
