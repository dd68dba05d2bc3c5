"""uvicorn on the resolved sockets, with ``READY=1`` once it accepts.

::

    from socket_activation.integrations.uvicorn import run
    run("app:app")                        # or run(app, ServerConfig(port=8080), workers=...)

What this adds over ``uvicorn.Server(config).serve(sockets=[...])``: the sockets come from
:func:`socket_activation.resolve` (systemd, launchd, or bound from the config), each keeps its
family and type, uvicorn's ``backlog`` defaults to the sockets' own accept-queue limit
(uvicorn calls ``listen()`` again), and a service manager hears ``READY=1`` when uvicorn
accepts and ``STOPPING=1`` when it stops.

Why not ``uvicorn --fd 3``: uvicorn wraps that fd as ``AF_UNIX``/``SOCK_STREAM`` whatever it is
(uvicorn #295). A TCP socket still serves, but every connection is then taken for a Unix one
and asyncio never sets ``TCP_NODELAY`` on it; a UDP socket fails with a bare
``OSError: [Errno 95] Operation not supported``; and it serves exactly one fd, by number.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from .._resolve import Resolution, ResolvedSocket
from ._common import listen_backlog, notify_ready, notify_stopping, stream_sockets

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
    ) -> None:
        super().__init__(config)
        self.resolved = sockets
        self.notify = notify
        self.accept_grace = accept_grace

    @property
    def sockets(self) -> list[socket.socket]:
        """What to pass to ``serve(sockets=...)``/``run(sockets=...)``."""
        return [s.socket for s in self.resolved]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.notify:
            notify_ready(self.resolved, "uvicorn")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
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
    **options: Any,
) -> _Server:
    """A ``uvicorn.Server`` for *app* on the listening stream sockets; serve it with
    ``await server.serve(sockets=server.sockets)``.

    The sockets come from *resolution*, or from ``resolve(config)``; *options* go to
    ``uvicorn.Config`` (``host``, ``port``, ``uds`` and ``fd`` are not used: the sockets are
    given). ``notify=False`` sends nothing to ``NOTIFY_SOCKET``. On shutdown the server stops
    accepting, then waits *accept_grace* seconds before uvicorn closes idle connections, so a
    connection accepted just before is not reset before its request arrives.
    """
    _, streams = stream_sockets(config, resolution)
    options.setdefault("backlog", max(listen_backlog(s.socket) for s in streams))
    return _Server(uvicorn.Config(app, **options), streams, notify, accept_grace)


async def serve(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    **options: Any,
) -> None:
    """Serve *app* with uvicorn on the listening stream sockets until SIGINT/SIGTERM."""
    server = make_server(app, config, resolution=resolution, notify=notify, **options)
    await server.serve(sockets=server.sockets)


def run(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    **options: Any,
) -> None:
    """:func:`serve` in a new event loop (uvicorn's ``loop`` option is honoured)."""
    server = make_server(app, config, resolution=resolution, notify=notify, **options)
    server.run(sockets=server.sockets)
