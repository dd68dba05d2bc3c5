"""waitress on the resolved sockets (``create_server(app, sockets=...)``), with a drain.

::

    from socket_activation.integrations.waitress import serve
    serve(app)                            # a WSGI app; until SIGTERM/SIGINT

waitress takes sockets (``sockets=``) but calls ``listen()`` again on each with its
``backlog`` (1024 unless told otherwise) and has no stop signal of its own: SIGTERM kills it
mid-request. What this adds: the sockets come from :func:`socket_activation.resolve` (TCP and
Unix, inherited or bound), ``backlog`` defaults to the sockets' own limit, ``READY=1`` once
it accepts, and on SIGTERM/SIGINT ``STOPPING=1``, accepting stops, the requests in progress
finish (at most *drain_timeout* seconds), then the server closes.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from waitress import create_server, wasyncore  # type: ignore[import-untyped]
from waitress.channel import HTTPChannel  # type: ignore[import-untyped]
from waitress.server import BaseWSGIServer  # type: ignore[import-untyped]

from .._resolve import Resolution
from ._common import listen_backlog, notify_ready, notify_stopping, stream_sockets
from ._stop import STOP_SIGNALS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["make_server", "serve"]

# Seconds the requests in progress get to finish after the stop signal.
_DRAIN_TIMEOUT = 10.0
# The poll timeout of the loop: how soon a stop signal is seen (a signal does not end poll()).
_TICK = 0.1


def make_server(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    **adjustments: Any,
) -> Any:
    """``waitress.create_server(app, sockets=..., **adjustments)`` on every listening stream
    socket, with ``backlog`` defaulting to theirs. Serve it with ``server.run()`` (no drain)
    or with :func:`serve`."""
    _, streams = stream_sockets(config, resolution)
    adjustments.setdefault("backlog", max(listen_backlog(s.socket) for s in streams))
    return create_server(app, sockets=[s.socket for s in streams], **adjustments)


def serve(
    app: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    drain_timeout: float = _DRAIN_TIMEOUT,
    **adjustments: Any,
) -> None:
    """Serve *app* until SIGTERM/SIGINT, then drain and close (see the module docstring).

    Call it from the main thread (it installs the signal handlers)."""
    _, streams = stream_sockets(config, resolution)
    server = make_server(app, resolution=Resolution(streams), **adjustments)
    channels: dict[int, Any] = server.map if hasattr(server, "map") else server._map
    stop: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda n, _f: stop.append(n)) for signum in STOP_SIGNALS
    }
    try:
        if notify:
            notify_ready(streams, "waitress")
        while not stop:
            wasyncore.loop(timeout=_TICK, map=channels, count=1)
        if notify:
            notify_stopping()
        for dispatcher in list(channels.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.accepting = False  # no longer polled for accept
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and _busy(channels):
            wasyncore.loop(timeout=_TICK, map=channels, count=1)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(channels)


def _busy(channels: dict[int, Any]) -> bool:
    return any(isinstance(d, HTTPChannel) for d in channels.values())
