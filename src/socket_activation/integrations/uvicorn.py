"""uvicorn on the resolved sockets, with ``READY=1`` once it accepts.

::

    from socket_activation.integrations.uvicorn import run
    run("app:app")                        # or run(app, ServerConfig(port=8080), workers=...)

What this adds over ``uvicorn.Server(config).serve(sockets=[...])``: the sockets come from
:func:`socket_activation.resolve` (systemd, launchd, or bound from the config), each keeps its
family and type, uvicorn's ``backlog`` defaults to the sockets' own accept-queue limit
(uvicorn calls ``listen()`` again), and a service manager hears ``READY=1`` when uvicorn
accepts and ``STOPPING=1`` when it stops. ``exit_idle_time=S`` ends the server once no
connection has been open or queued for S seconds (on demand: the ``.socket`` unit starts it
again).

Why not ``uvicorn --fd 3``: uvicorn wraps that fd as ``AF_UNIX``/``SOCK_STREAM`` whatever it is
(uvicorn #295). A TCP socket still serves, but every connection is then taken for a Unix one
and asyncio never sets ``TCP_NODELAY`` on it; a UDP socket fails with a bare
``OSError: [Errno 95] Operation not supported``; and it serves exactly one fd, by number.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import uvicorn

from .._resolve import Resolution, ResolvedSocket
from ..restart.idle import IdleWatch
from ._common import listen_backlog, notify_ready, notify_stopping, stream_sockets
from ._idle import close_watch, require_inherited, watch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["make_server", "run", "serve"]

# Seconds a connection accepted just before shutdown gets to deliver its request.
_ACCEPT_GRACE = 0.5


class _Server(uvicorn.Server):
    """uvicorn.Server that tells the service manager when it accepts and when it stops."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: tuple[ResolvedSocket, ...],
        notify: bool,
        accept_grace: float,
        exit_idle_time: float | None = None,
    ) -> None:
        super().__init__(config)
        self.resolved = sockets
        self.notify = notify
        self.accept_grace = accept_grace
        self.idle: IdleWatch | None = None
        if exit_idle_time is not None:
            require_inherited([s.fd for s in sockets], [s.fd for s in sockets if s.inherited])
            self.idle = watch(self.sockets, exit_idle_time)
        self.idle_exit = False

    @property
    def sockets(self) -> list[socket.socket]:
        """What to pass to ``serve(sockets=...)``/``run(sockets=...)``."""
        return [s.socket for s in self.resolved]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.notify:
            notify_ready(self.resolved, "uvicorn")

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        idle = self.idle
        if idle is None or time.monotonic() < idle.next_sample:
            return False
        if self.server_state.connections:  # uvicorn's own count spares a netlink query
            idle.busy()
            return False
        if not idle.sample():
            return False
        for server in self.servers:  # stop accepting in this same step: nothing slips in
            server.close()
        self.idle_exit = True
        return True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.idle is not None:
            close_watch(self.idle)
        if self.notify:
            notify_stopping()
        # uvicorn closes every connection with no request in progress, including one accepted
        # a moment ago whose request is still on the wire: stop accepting first, and give those
        # connections accept_grace seconds to send it (measured: resets during rollouts
        # under load without this, none with it)
        for server in self.servers:
            server.close()
        await asyncio.sleep(self.accept_grace)
        await super().shutdown(sockets=sockets)


def make_server(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    exit_idle_time: float | None = None,
    **options: Any,
) -> _Server:
    """A ``uvicorn.Server`` for *app* on the listening stream sockets; serve it with
    ``await server.serve(sockets=server.sockets)``.

    The sockets come from *resolution*, or from ``resolve(config)``; *options* go to
    ``uvicorn.Config`` (``host``, ``port``, ``uds`` and ``fd`` are not used: the sockets are
    given). ``notify=False`` sends nothing to ``NOTIFY_SOCKET``. On shutdown the server stops
    accepting, then waits *accept_grace* seconds before uvicorn closes idle connections, so a
    connection accepted just before is not reset before its request arrives.

    ``exit_idle_time=S``: once no connection has been open or queued for S seconds (uvicorn's
    count, then the kernel's, sock_diag), stop accepting and shut down as on SIGTERM;
    ``server.idle_exit`` then says so. Only on sockets a service manager passed
    (:class:`ConfigError` otherwise): connections arriving after the exit wait in the queue of
    the socket it holds, and it starts the service again.
    """
    _, streams = stream_sockets(config, resolution)
    options.setdefault("backlog", max(listen_backlog(s.socket) for s in streams))
    return _Server(uvicorn.Config(app, **options), streams, notify, accept_grace, exit_idle_time)


async def serve(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    exit_idle_time: float | None = None,
    **options: Any,
) -> None:
    """Serve *app* with uvicorn on the listening stream sockets until SIGINT/SIGTERM (or
    *exit_idle_time* seconds without a connection, see :func:`make_server`)."""
    server = make_server(
        app, config, resolution=resolution, notify=notify, exit_idle_time=exit_idle_time, **options
    )
    await server.serve(sockets=server.sockets)


def run(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    exit_idle_time: float | None = None,
    **options: Any,
) -> None:
    """:func:`serve` in a new event loop (uvicorn's ``loop`` option is honoured)."""
    server = make_server(
        app, config, resolution=resolution, notify=notify, exit_idle_time=exit_idle_time, **options
    )
    server.run(sockets=server.sockets)
