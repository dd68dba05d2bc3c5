"""daphne (Django Channels' ASGI server, on Twisted) on the resolved sockets.

::

    from socket_activation.integrations.daphne import run
    run(application)                      # an ASGI application; until SIGTERM/SIGINT

``daphne --fd 3`` serves one fd by number (``-- daphne --fd {fd:web}`` under ``exec`` or
``supervise`` fills it in), adopts it as ``AF_INET`` whatever it is, sends no ``READY=1``, and
on SIGTERM stops the reactor, whose shutdown cancels every application instance still
running: requests in progress are never answered (measured under ``supervise`` rollouts).
What this adds: every listening socket from :func:`socket_activation.resolve` (TCP and
Unix, each adopted with its own family), ``READY=1`` once daphne listens, and on
SIGTERM/SIGINT a drain *before* the reactor is stopped: ``STOPPING=1``, the ports stop
listening, *accept_grace* seconds for the connections accepted last, then up to
*drain_timeout* seconds for the requests in progress to finish.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from .._resolve import Resolution, ResolvedSocket
from ._common import notify_ready, notify_stopping, stream_sockets
from ._stop import STOP_SIGNALS
from .twisted import adopt, drain  # first: it reads LISTEN_* before Twisted can delete them

# isort: split
from daphne.server import Server  # type: ignore[import-untyped]  # the asyncio reactor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["make_server", "run"]

# Seconds a connection accepted just before shutdown gets to deliver its request.
_ACCEPT_GRACE = 0.5
# Seconds open connections get to close after the ports stopped listening.
_DRAIN_TIMEOUT = 10.0


class _Server(Server):  # type: ignore[misc]
    """daphne's Server on adopted sockets, keeping its ports (for the drain).

    daphne listens on endpoint strings, and its ``fd:`` endpoint adopts every fd as
    ``AF_INET`` (a ``domain=`` reaches Twisted as a string and is refused). So ``run()``
    gives daphne no endpoint and adopts each socket with its own family once the reactor
    runs, on the factory daphne built.
    """

    def __init__(self, application: Any, streams: tuple[ResolvedSocket, ...], **kw: Any) -> None:
        described = [f"adopted fd {s.fd} ({s.kind} {s.address})" for s in streams]
        super().__init__(application, endpoints=described, **kw)
        self.streams = streams
        self.ports: list[Any] = []
        self.on_listening: list[Callable[[], object]] = []

    def run(self) -> None:
        from twisted.internet import reactor

        self.endpoints: list[str] = []  # nothing for daphne to parse; adopted below instead
        reactor.callWhenRunning(self._adopt)
        super().run()

    def _adopt(self) -> None:
        from twisted.internet import reactor

        try:
            self.ports.extend(adopt(self.streams, self.http_factory, reactor))
        except BaseException:
            self.stop()
            raise
        for port in self.ports:
            self.listen_success(port)
        for callback in self.on_listening:
            callback()

    def open_connections(self) -> int:
        """The requests daphne has not finished (its ``connections`` are requests)."""
        return sum("disconnected" not in c for c in self.connections.values())


def make_server(
    application: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    drain_timeout: float = _DRAIN_TIMEOUT,
    **options: Any,
) -> Any:
    """A ``daphne.server.Server`` that adopts every listening stream socket when it runs;
    ``server.run()`` serves until SIGTERM/SIGINT. *options* go to daphne's ``Server``
    (not ``endpoints``)."""
    from twisted.internet import reactor as installed

    reactor: Any = installed
    _, streams = stream_sockets(config, resolution)
    server = _Server(application, streams, signal_handlers=False, **options)
    if notify:
        server.on_listening.append(lambda: notify_ready(streams, "daphne"))

    stopping: list[int] = []

    def stop_gracefully() -> None:
        if stopping:  # a second signal while draining: the drain is bounded already
            return
        stopping.append(1)
        if notify:
            notify_stopping()
        done = drain(
            server.ports,
            server.open_connections,
            reactor=reactor,
            accept_grace=accept_grace,
            drain_timeout=drain_timeout,
        )
        done.addBoth(lambda _: reactor.stop())

    def install_stop_signals() -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda _n, _f: reactor.callFromThread(stop_gracefully))

    reactor.callWhenRunning(install_stop_signals)
    return server


def run(
    application: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    notify: bool = True,
    **options: Any,
) -> None:
    """:func:`make_server` and ``run()`` it."""
    make_server(application, config, resolution=resolution, notify=notify, **options).run()
