"""trio on the resolved sockets: a ``trio.SocketListener`` per listening stream socket.

::

    from socket_activation.integrations.trio import serve
    trio.run(serve, handler)              # handler(stream); until SIGTERM/SIGINT

:func:`open_listeners` wraps each socket with ``trio.socket.from_stdlib_socket`` (no
``bind()``, no second ``listen()``: the inherited backlog stays), for ``trio.serve_listeners``
or your own accept loop. :func:`serve` adds ``READY=1`` once the listeners accept and, on
SIGTERM/SIGINT, ``STOPPING=1``, an end to accepting (connections still queued are left in
the socket for the next generation), and a wait for the handlers running, at most
*drain_timeout* seconds, before they are cancelled.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._resolve import Resolution
from ._common import notify_ready, notify_stopping, stream_sockets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["open_listeners", "serve"]

# Seconds the handlers running get to finish after the stop signal.
_DRAIN_TIMEOUT = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[trio.SocketStream], Awaitable[object]]


def open_listeners(
    config: ServerConfig | None = None, *, resolution: Resolution | None = None
) -> list[trio.SocketListener]:
    """A ``trio.SocketListener`` for each listening stream socket (closing a listener closes
    its socket). Call it inside ``trio.run``."""
    _, streams = stream_sockets(config, resolution)
    return [trio.SocketListener(trio.socket.from_stdlib_socket(s.socket)) for s in streams]


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
    listeners = open_listeners(resolution=Resolution(streams))
    async with trio.open_nursery() as handlers:
        async with trio.open_nursery() as accepting:
            await accepting.start(
                _serve_listeners, handler, listeners, handlers, name="accept loop"
            )
            if notify:
                notify_ready(streams, "trio")
            try:
                await (shutdown_trigger or _signalled)()
            finally:
                if notify:
                    notify_stopping()
                accepting.cancel_scope.cancel()
        handlers.cancel_scope.deadline = trio.current_time() + drain_timeout
    for listener in listeners:
        await listener.aclose()


async def _serve_listeners(
    handler: Handler,
    listeners: list[trio.SocketListener],
    handlers: trio.Nursery,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    await trio.serve_listeners(
        handler, listeners, handler_nursery=handlers, task_status=task_status
    )


async def _signalled() -> None:
    with trio.open_signal_receiver(*_STOP_SIGNALS) as received:
        async for _ in received:
            return
