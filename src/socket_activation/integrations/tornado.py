"""tornado on the resolved sockets: ``HTTPServer.add_sockets`` with every listening socket.

::

    from socket_activation.integrations.tornado import run
    run(tornado.web.Application(handlers))    # until SIGTERM/SIGINT

``add_sockets`` serves sockets as they are (no ``bind()``, no second ``listen()``: the
inherited backlog stays). What this adds: the sockets come from
:func:`socket_activation.resolve` (TCP and Unix, inherited or bound, by name), ``READY=1`` once
the server accepts, ``STOPPING=1`` on the stop signal, and a drain: ``stop()`` (accepting
ends), *accept_grace* seconds for the connections accepted last to send their request, up to
*drain_timeout* seconds for open connections to finish, then ``close_all_connections()``.

A Jupyter-style server, which builds its ``HTTPServer`` itself and calls ``listen(port)``,
takes the sockets from :func:`make_server`'s resolution instead: see the README recipe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.httpserver import HTTPServer

from .._resolve import Resolution
from ._common import notify_ready, notify_stopping, stream_sockets
from ._stop import wait_for_stop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["drain", "make_server", "run", "serve"]

# Seconds a connection accepted just before shutdown gets to deliver its request.
_ACCEPT_GRACE = 0.5
# Seconds open connections get to finish before they are closed (keep-alive ones never do).
_DRAIN_TIMEOUT = 10.0
# How often the drain looks at the open connections.
_POLL = 0.05


def make_server(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    **server_options: Any,
) -> HTTPServer:
    """An ``HTTPServer(app, **server_options)`` accepting on every listening stream socket.

    Call it inside a running event loop (tornado registers the sockets with the current one).
    """
    _, streams = stream_sockets(config, resolution)
    server = HTTPServer(app, **server_options)
    server.add_sockets([s.socket for s in streams])
    return server


async def drain(
    server: HTTPServer,
    *,
    accept_grace: float = _ACCEPT_GRACE,
    drain_timeout: float = _DRAIN_TIMEOUT,
) -> None:
    """Stop accepting, let open connections finish (bounded), then close the rest."""
    server.stop()
    await asyncio.sleep(accept_grace)
    deadline = time.monotonic() + drain_timeout
    while server._connections and time.monotonic() < deadline:
        await asyncio.sleep(_POLL)
    await server.close_all_connections()


async def serve(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    drain_timeout: float = _DRAIN_TIMEOUT,
    **server_options: Any,
) -> None:
    """Serve *app* (a ``tornado.web.Application`` or any ``HTTPServer`` callback) until
    *shutdown_trigger* returns (by default: SIGTERM or SIGINT), then :func:`drain`."""
    _, streams = stream_sockets(config, resolution)
    server = make_server(app, resolution=Resolution(streams), **server_options)
    if notify:
        notify_ready(streams, "tornado")
    try:
        await (shutdown_trigger or wait_for_stop)()
    finally:
        if notify:
            notify_stopping()
        await drain(server, accept_grace=accept_grace, drain_timeout=drain_timeout)


def run(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    **server_options: Any,
) -> None:
    """:func:`serve` in a new event loop (``asyncio.run``), until SIGTERM or SIGINT."""
    asyncio.run(serve(app, config, resolution=resolution, notify=notify, **server_options))
