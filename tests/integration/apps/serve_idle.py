"""Serve on the resolved sockets with one integration until idle: ``serve_idle.py NAME S``.

NAME is asyncio, uvicorn, hypercorn or socketserver; S the idle time in seconds. Answers every
request with its pid (``/hold`` waits 1.5 s first). Exits 0 once idle (STOPPING=1 sent).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import sys
import time
from typing import Any

import socket_activation


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]
            await send({"type": f"{kind}.complete"})  # lifespan.startup / lifespan.shutdown
            if kind == "lifespan.shutdown":
                return
    if scope["path"] == "/hold":
        await asyncio.sleep(1.5)
    body = str(os.getpid()).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_asyncio(seconds: float) -> None:
    from socket_activation.integrations.asyncio import close_when_idle, start_servers

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.split(b" ", 2)[1] == b"/hold":
            await asyncio.sleep(1.5)
        body = str(os.getpid()).encode()
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    servers = await start_servers(handle)
    socket_activation.ready()
    await close_when_idle(servers, seconds)


class PidHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hold":
            time.sleep(1.5)
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_socketserver(seconds: float) -> None:
    from socket_activation.integrations.socketserver import make_server, serve_until_idle

    resolution = socket_activation.resolve()
    server = make_server(resolution.stream[0], PidHandler)
    socket_activation.ready()
    serve_until_idle(server, seconds)
    server.server_close()


def main() -> None:
    which, seconds = sys.argv[1], float(sys.argv[2])
    if which == "asyncio":
        asyncio.run(serve_asyncio(seconds))
    elif which == "uvicorn":
        from socket_activation.integrations.uvicorn import run

        run(app, log_level="warning", exit_idle_time=seconds)
    elif which == "hypercorn":
        from socket_activation.integrations.hypercorn import serve

        asyncio.run(serve(app, exit_idle_time=seconds))
    elif which == "socketserver":
        serve_socketserver(seconds)
    else:
        raise SystemExit(f"unknown server {which!r}")


if __name__ == "__main__":
    main()
