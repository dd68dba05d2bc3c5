"""aiohttp on the resolved sockets: one ``web.SockSite`` per listening stream socket.

::

    from socket_activation.integrations.aiohttp import run
    run(app)                              # an aiohttp.web.Application; until SIGTERM/SIGINT

What this adds over ``web.run_app(app, sock=...)``: every listening socket is served (TCP and
Unix, inherited or bound, by name), each keeps its accept-queue limit (``SockSite`` calls
``listen()`` again with 128 unless told otherwise, shrinking systemd's ``Backlog=``), a
service manager hears ``READY=1`` once every site accepts and ``STOPPING=1`` on the stop
signal, and a stop drains: accepting stops first, the connections accepted last get
*accept_grace* seconds to send their request, then aiohttp's own graceful shutdown waits up
to *shutdown_timeout* for the requests in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from .._resolve import Resolution
from ._common import listen_backlog, notify_ready, notify_stopping, stream_sockets
from ._stop import wait_for_stop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["run", "serve", "start_sites"]

# Seconds a connection accepted just before shutdown gets to deliver its request.
_ACCEPT_GRACE = 0.5


async def start_sites(
    runner: web.BaseRunner,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    backlog: int | None = None,
) -> list[web.SockSite]:
    """A started ``web.SockSite`` for each listening stream socket, on a set-up *runner*.

    The sockets come from *resolution*, or from ``resolve(config)``; ``backlog`` overrides each
    socket's own limit. Raises :class:`ConfigError` when no socket listens.
    """
    _, streams = stream_sockets(config, resolution)
    sites: list[web.SockSite] = []
    for resolved in streams:
        queue = backlog if backlog is not None else listen_backlog(resolved.socket)
        site = web.SockSite(runner, resolved.socket, backlog=queue)
        await site.start()
        sites.append(site)
    return sites


async def serve(
    app: web.Application,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    backlog: int | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    shutdown_timeout: float = 60.0,
) -> None:
    """Serve *app* on the listening stream sockets until *shutdown_trigger* returns (by
    default: SIGTERM or SIGINT), then drain (see the module docstring)."""
    if resolution is None:
        from .._resolve import resolve

        resolution = resolve(config)
    _, streams = stream_sockets(resolution=resolution)
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await start_sites(runner, resolution=resolution, backlog=backlog)
        if notify:
            notify_ready(streams, "aiohttp")
        try:
            await (shutdown_trigger or wait_for_stop)()
        finally:
            if notify:
                notify_stopping()
        loop = asyncio.get_running_loop()
        for resolved in streams:  # stop accepting; the fds stay open until the sites stop
            loop.remove_reader(resolved.fd)
        await asyncio.sleep(accept_grace)
    finally:
        await runner.cleanup()


def run(
    app: web.Application,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    shutdown_timeout: float = 60.0,
) -> None:
    """:func:`serve` in a new event loop (``asyncio.run``), until SIGTERM or SIGINT."""
    asyncio.run(
        serve(
            app,
            config,
            resolution=resolution,
            notify=notify,
            accept_grace=accept_grace,
            shutdown_timeout=shutdown_timeout,
        )
    )
