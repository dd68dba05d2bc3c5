"""asyncio servers on the resolved sockets: one ``asyncio.Server`` per listening stream socket.

::

    servers = await start_servers(handle)          # handle(reader, writer), like start_server
    socket_activation.ready()                       # READY=1 when a manager waits for it
    await asyncio.gather(*(s.serve_forever() for s in servers))

What this adds over ``asyncio.start_server(sock=...)`` in a loop: every listening socket is
served (TCP and Unix alike, inherited or bound), datagram sockets and ``Accept=yes``
connections are left out, each socket keeps its accept-queue limit (asyncio calls ``listen()``
again, with 100 unless told otherwise, which would shrink systemd's ``Backlog=``), and the
servers started so far are closed when a later one fails.

Each ``asyncio.Server`` owns its socket: ``server.close()`` closes it (an inherited fd is only
ever served by this process, so that is what a stopping server wants). To stop without
dropping a connection accepted at that moment, use :func:`close_servers`.

On-demand services (a ``.socket`` unit starts the service on the first connection)::

    servers = await start_servers(handle)
    socket_activation.ready()
    await close_when_idle(servers, 30)    # serves; returns once idle 30 s: exit 0
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .._resolve import Resolution
from ._common import listen_backlog, notify_stopping, stream_sockets
from ._idle import close_watch, require_inherited, wait_idle, watch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["close_servers", "close_when_idle", "create_servers", "start_servers"]

# Seconds connections accepted just before shutdown get to reach their handler (close_servers).
_ACCEPT_GRACE = 0.5

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


async def start_servers(
    client_connected_cb: ClientConnected,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    backlog: int | None = None,
    **kw: Any,
) -> list[asyncio.Server]:
    """``asyncio.start_server(client_connected_cb, sock=...)`` for each listening stream socket.

    The sockets come from *resolution*, or from ``resolve(config)``. ``backlog`` overrides each
    socket's own accept-queue limit; other keywords (``limit``, ``ssl``, ``start_serving``, ...)
    go to :func:`asyncio.start_server`. Raises :class:`ConfigError` when no socket listens.
    """
    return await _start(
        lambda sock, queue: asyncio.start_server(
            client_connected_cb, sock=sock, backlog=queue, **kw
        ),
        config,
        resolution,
        backlog,
    )


async def create_servers(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    backlog: int | None = None,
    **kw: Any,
) -> list[asyncio.Server]:
    """``loop.create_server(protocol_factory, sock=...)`` for each listening stream socket.

    As :func:`start_servers`, for protocol-based servers; keywords go to
    :meth:`asyncio.loop.create_server`.
    """
    loop = asyncio.get_running_loop()
    return await _start(
        lambda sock, queue: loop.create_server(protocol_factory, sock=sock, backlog=queue, **kw),
        config,
        resolution,
        backlog,
    )


async def _start(
    start: Callable[[Any, int], Awaitable[asyncio.Server]],
    config: ServerConfig | None,
    resolution: Resolution | None,
    backlog: int | None,
) -> list[asyncio.Server]:
    owned = resolution is None
    resolution, streams = stream_sockets(config, resolution)
    servers: list[asyncio.Server] = []
    try:
        for resolved in streams:
            queue = backlog if backlog is not None else listen_backlog(resolved.socket)
            servers.append(await start(resolved.socket, queue))
    except BaseException:
        for server in servers:
            server.close()
        if owned:  # bound by us for this call: nobody else will close them
            resolution.close()
        raise
    return servers


async def close_servers(
    servers: list[asyncio.Server], *, accept_grace: float = _ACCEPT_GRACE
) -> None:
    """Stop accepting, let the connections accepted last reach their handler, then close.

    ``server.close()`` straight away can drop a connection accepted in the same loop turn
    whose transport is still being set up (measured under ``supervise`` rollouts with Python
    3.11: a reset every few restarts under load; none with this). Handlers still running are
    the caller's to wait for.
    """
    loop = asyncio.get_running_loop()
    for server in servers:
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())
    await asyncio.sleep(accept_grace)
    for server in servers:
        server.close()


async def close_when_idle(
    servers: list[asyncio.Server], exit_idle_time: float, *, notify: bool = True
) -> None:
    """Serve until no connection has been open or queued for *exit_idle_time* seconds, then
    stop accepting (in that same loop step), send ``STOPPING=1`` and close the servers.

    Idleness is the kernel's view of the sockets (sock_diag), so connections still held by a
    handler count. Connections that arrive afterwards wait in the queue of the socket the
    service manager holds, for the next start: hence a :class:`ConfigError` for sockets that
    were not passed by a service manager.
    """
    sockets = [sock for server in servers for sock in server.sockets]
    require_inherited(sock.fileno() for sock in sockets)
    idle = watch(sockets, exit_idle_time)
    loop = asyncio.get_running_loop()

    def stop_accepting() -> None:
        for sock in sockets:
            loop.remove_reader(sock.fileno())

    try:
        await wait_idle(idle, stop_accepting)
    finally:
        close_watch(idle)
    if notify:
        notify_stopping()
    for server in servers:
        server.close()
