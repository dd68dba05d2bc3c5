"""An ASGI app: ``/`` answers the pid, ``/conn`` describes the connection serving it.

``/conn`` gives ``{"server": ..., "client": ..., "nodelay": 0|1|null}``; ``nodelay`` is read
from the kernel for the TCP connection whose peer is the client (found in /proc/self/fd), so a
server that took a TCP socket for a Unix one (no TCP_NODELAY) shows it.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any


def connection_nodelay(client: tuple[str, int]) -> int | None:
    """TCP_NODELAY of this process's TCP socket connected to *client*, or None."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with sock:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                peer = sock.getpeername()
            except OSError:
                continue
            if (str(peer[0]), int(peer[1])) == (str(client[0]), int(client[1])):
                return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return None


def describe(server: object, client: object) -> bytes:
    nodelay = None
    if isinstance(client, list | tuple) and len(client) == 2 and client[1]:
        nodelay = connection_nodelay((str(client[0]), int(client[1])))
    return json.dumps({"server": server, "client": client, "nodelay": nodelay}).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/conn":
        body = describe(scope.get("server"), scope.get("client"))
    else:
        body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
