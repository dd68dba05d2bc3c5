"""anyio on the resolved sockets (asyncio or trio backend): one ``SocketListener`` each.

::

    from socket_activation.integrations.anyio import serve
    anyio.run(serve, handler)             # handler(stream); until SIGTERM/SIGINT

:func:`open_listeners` wraps each listening socket with ``SocketListener.from_socket``
(no ``bind()``, no second ``listen()``: the inherited backlog stays) in one
``MultiListener``, for ``listener.serve(handler)``. But cancelling that accept loop can drop
a connection just accepted (see :func:`_accept_loop`), so :func:`serve` accepts by itself:
``READY=1`` once it accepts and, on SIGTERM/SIGINT, ``STOPPING=1``, an end to accepting
that loses nothing (connections still queued stay in the socket for the next generation),
and a wait for the handlers running, at most *drain_timeout* seconds, before they are
cancelled.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketListener, SocketStream, UNIXSocketStream
from anyio.streams.stapled import MultiListener

from .._resolve import Resolution
from ._common import notify_ready, notify_stopping, stream_sockets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["open_listeners", "serve"]

# Seconds the handlers running get to finish after the stop signal.
_DRAIN_TIMEOUT = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[SocketStream], Coroutine[Any, Any, object]]


async def open_listeners(
    config: ServerConfig | None = None, *, resolution: Resolution | None = None
) -> MultiListener[SocketStream]:
    """One ``MultiListener`` over a ``SocketListener`` per listening stream socket (closing
    it closes the sockets)."""
    _, streams = stream_sockets(config, resolution)
    listeners: list[SocketListener] = []
    for resolved in streams:
        listeners.append(await SocketListener.from_socket(resolved.socket))
    return MultiListener(listeners)


async def serve(
    handler: Handler,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    notify: bool = True,
    drain_timeout: float = _DRAIN_TIMEOUT,
) -> None:
    """Run ``handler(stream)`` for every connection until *shutdown_trigger* returns (by
    default: SIGTERM or SIGINT), then drain (see the module docstring)."""
    _, streams = stream_sockets(config, resolution)
    async with anyio.create_task_group() as handlers:
        async with anyio.create_task_group() as accepting:
            for resolved in streams:
                accepting.start_soon(_accept_loop, resolved.socket, handler, handlers)
            await anyio.sleep(0)  # every accept loop is waiting on its socket from here
            if notify:
                notify_ready(streams, "anyio")
            try:
                await (shutdown_trigger or _signalled)()
            finally:
                if notify:
                    notify_stopping()
                accepting.cancel_scope.cancel()
        handlers.cancel_scope.deadline = anyio.current_time() + drain_timeout


async def _accept_loop(
    sock: socket.socket, handler: Handler, handlers: anyio.abc.TaskGroup
) -> None:
    """Accept on *sock* until cancelled, without losing a connection to the cancellation.

    ``SocketListener.accept()`` awaits again after ``accept(2)`` returned (to wrap the
    connection): cancelled there, the accepted connection is dropped and its client sees a
    reset (measured: two per five rollouts under load, with either backend). Here the loop
    is cancelled only while waiting for the socket to be readable, and the wrapping is
    shielded.
    """
    wrap = (
        UNIXSocketStream.from_socket if sock.family == socket.AF_UNIX else SocketStream.from_socket
    )
    sock.setblocking(False)
    while True:
        await anyio.wait_readable(sock)
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            continue  # another process took it, or the client gave up
        with anyio.CancelScope(shield=True):
            try:
                stream = await wrap(conn)
            except BaseException:
                conn.close()
                raise
        handlers.start_soon(handler, stream)


async def _signalled() -> None:
    with anyio.open_signal_receiver(*_STOP_SIGNALS) as received:
        async for _ in received:
            return
