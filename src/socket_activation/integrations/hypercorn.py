"""hypercorn on the resolved sockets, with ``READY=1`` once it accepts.

::

    from socket_activation.integrations.hypercorn import serve
    asyncio.run(serve(app))               # ASGI or WSGI app; hypercorn.Config for the rest

hypercorn itself understands ``--bind fd://3`` (CLI and ``Config.bind``), which is enough when
fd numbers are fixed. What this adds: the sockets come from :func:`socket_activation.resolve`
(by name, any number of them, TCP and Unix, inherited or bound), they are left as they are
(``fd://`` sets ``SO_REUSEADDR`` and makes the fd inheritable by every child), hypercorn's
``backlog`` (100 by default, and asyncio calls ``listen()`` again) defaults to the sockets'
own limit, and a service manager hears ``READY=1`` once hypercorn accepts and ``STOPPING=1``
when it stops (hypercorn sends neither). ``exit_idle_time=S`` shuts it down once no
connection has been open or queued for S seconds (an on-demand service).

With a certificate (``certfile``/``keyfile`` set) the sockets are served over TLS. HTTP/3
(QUIC over the datagram sockets) is not wired here.

This uses ``hypercorn.asyncio.run.worker_serve``, the function ``hypercorn.asyncio.serve``
calls, because only it takes sockets; the tests pin it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from .._resolve import Resolution
from ._common import listen_backlog, notify_ready, notify_stopping, stream_sockets
from ._idle import close_watch, require_inherited, wait_idle, watch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["serve"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Seconds a connection accepted just before shutdown gets to deliver its request (see serve).
_ACCEPT_GRACE = 0.5


async def serve(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    hypercorn_config: Config | None = None,
    backlog: int | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    mode: Literal["asgi", "wsgi"] | None = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    exit_idle_time: float | None = None,
) -> None:
    """Serve *app* with hypercorn on the listening stream sockets.

    Runs until *shutdown_trigger* returns, or else until SIGINT/SIGTERM (as hypercorn does).
    The sockets come from *resolution*, or from ``resolve(config)``; *hypercorn_config* carries
    hypercorn's own options (its ``bind`` is not used). ``backlog`` overrides the sockets' own
    limit; ``mode`` forces ASGI or WSGI; ``notify=False`` sends nothing to ``NOTIFY_SOCKET``.

    On shutdown it first stops accepting, then gives the connections accepted last
    *accept_grace* seconds to send their request before hypercorn's own shutdown: hypercorn
    closes every connection that has no request in progress, including one accepted a moment
    earlier whose request is still on the wire (measured: one reset per few restarts under
    load, none with the grace).

    ``exit_idle_time=S``: once the kernel (sock_diag) has shown no connection open or queued
    for S seconds, stop accepting in that same loop step and shut down as on SIGTERM. Only on
    sockets a service manager passed (:class:`ConfigError` otherwise): it holds them while
    the service is down, and starts it again on the next connection.
    """
    _, streams = stream_sockets(config, resolution)
    options = hypercorn_config or Config()
    options.backlog = backlog or max(listen_backlog(s.socket) for s in streams)
    served = [s.socket for s in streams]
    if options.ssl_enabled:
        sockets = Sockets(secure_sockets=served, insecure_sockets=[], quic_sockets=[])
    else:
        sockets = Sockets(secure_sockets=[], insecure_sockets=served, quic_sockets=[])
    wait = shutdown_trigger or _signalled()
    if exit_idle_time is not None:
        require_inherited([s.fd for s in streams], [s.fd for s in streams if s.inherited])

    def stop_accepting() -> None:
        loop = asyncio.get_running_loop()
        for sock in served:  # the sockets stay open for the other generation
            loop.remove_reader(sock.fileno())

    async def trigger() -> None:
        # worker_serve awaits the trigger only once every socket is being served
        if notify:
            notify_ready(streams, "hypercorn")
        try:
            if exit_idle_time is None:
                await wait()
            else:
                await _first(wait(), _idle(served, exit_idle_time, stop_accepting))
        finally:
            if notify:
                notify_stopping()
        stop_accepting()
        await asyncio.sleep(accept_grace)

    await worker_serve(
        wrap_app(app, options.wsgi_max_body_size, mode),
        options,
        sockets=sockets,
        shutdown_trigger=trigger,
    )


def _signalled() -> Callable[[], Awaitable[object]]:
    """A trigger that returns on SIGINT/SIGTERM (what hypercorn installs without a trigger)."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, event.set)
    return event.wait


async def _idle(served: list[Any], seconds: float, stop_accepting: Callable[[], None]) -> None:
    idle = watch(served, seconds)
    try:
        await wait_idle(idle, stop_accepting)
    finally:
        close_watch(idle)


async def _first(*waits: Awaitable[object]) -> None:
    """Wait for whichever of *waits* ends first; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
