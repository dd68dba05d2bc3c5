"""Serve asgi_app / a pid-answering handler on the resolved sockets with one integration.

``python serve.py asyncio|uvicorn|hypercorn|socketserver``. Sockets come from
``socket_activation.resolve()`` (what the manager passed); READY=1 once serving; SIGTERM
stops accepting, finishes what was accepted, exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import http.server
import os
import signal
import sys
import threading

import socket_activation
from tests.integration.apps.asgi_app import app, describe


async def serve_asyncio() -> None:
    from socket_activation.integrations.asyncio import close_servers, start_servers

    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path == b"/conn":
                body = describe(
                    writer.get_extra_info("sockname"), writer.get_extra_info("peername")
                )
            else:
                body = str(os.getpid()).encode()
            writer.write(
                b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(body), body)
            )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            tasks.discard(task)

    servers = await start_servers(handle)
    socket_activation.ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await close_servers(servers)
    if tasks:
        await asyncio.wait(tasks, timeout=10)


class PidHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return str(self.client_address[0]) if self.client_address else "unix"


def serve_socketserver() -> None:
    from socket_activation.integrations.socketserver import make_server

    resolution = socket_activation.resolve()
    servers = [make_server(s, PidHandler) for s in resolution.stream]
    threads = [threading.Thread(target=s.serve_forever, args=(0.1,)) for s in servers]
    for thread in threads:
        thread.start()
    socket_activation.ready()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # wait in slices: a process-directed SIGTERM may land on a request thread, and the main
    # thread runs Python handlers only once it wakes (a bare wait() could sleep through it)
    while not stop.wait(0.2):
        pass
    for server in servers:
        server.shutdown()  # stop accepting
        server.server_close()  # close the socket, join the request threads
    for thread in threads:
        thread.join()


def main() -> None:
    faulthandler.register(signal.SIGUSR2)  # a stack dump on demand, to debug a stuck drain
    which = sys.argv[1]
    if which == "asyncio":
        asyncio.run(serve_asyncio())
    elif which == "uvicorn":
        from socket_activation.integrations.uvicorn import run

        run(app, log_level="warning", lifespan="on")
    elif which == "hypercorn":
        from socket_activation.integrations.hypercorn import serve

        asyncio.run(serve(app))
    elif which == "socketserver":
        serve_socketserver()
    else:
        raise SystemExit(f"unknown server {which!r}")


if __name__ == "__main__":
    main()
