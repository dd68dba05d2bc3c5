"""Twisted on the resolved sockets: ``reactor.adoptStreamPort`` for each listening socket.

::

    from socket_activation.integrations.twisted import run
    run(Site(resource))                   # any IProtocolFactory; until SIGTERM/SIGINT

``adoptStreamPort`` serves a TCP socket as it is (no ``bind()``, no second ``listen()``: the
inherited backlog stays); a Unix socket is adopted by a port of ours that, unlike Twisted's,
leaves the socket file, its mode and the backlog alone and never ``shutdown()``s the shared
socket. Twisted's own ``systemd:`` endpoint reads the environment once at
import, deletes ``LISTEN_FDS`` as it goes, and drops *every* fd when ``LISTEN_FDNAMES`` is
absent (``systemd-socket-activate`` without ``--fdname`` and systemd before 227 do not set
it): ``systemd:domain=INET:index=0`` then fails with ``IndexError``. The sockets here come from
:func:`socket_activation.resolve`, which reads an absent ``LISTEN_FDNAMES`` as systemd does
(every fd named ``unknown``), and each is adopted with its own family.

:func:`run` adds ``READY=1`` once the reactor runs with every port listening, and a drain
before the reactor's shutdown (SIGTERM/SIGINT, or ``reactor.stop()``): ``STOPPING=1``, the
ports stop listening, the connections accepted last get *accept_grace* seconds to send
their request, and open connections up to *drain_timeout* seconds to close.
"""

from __future__ import annotations

import time
from typing import Any

from .._resolve import Resolution, ResolvedSocket
from ..systemd.activation import systemd_activation
from ._common import notify_ready, notify_stopping, stream_sockets

# Importing twisted.internet.endpoints (daphne does, and twistd) deletes LISTEN_PID and
# LISTEN_FDS from os.environ: read them first (the snapshot is cached for the process, and
# resolve() reads it).
systemd_activation()

import socket  # noqa: E402

from twisted.internet import defer, task, tcp, unix  # noqa: E402
from twisted.protocols.policies import WrappingFactory  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["adopt", "drain", "listen", "run"]

# Seconds a connection accepted just before shutdown gets to deliver its request.
_ACCEPT_GRACE = 0.5
# Seconds open connections get to close after the ports stopped listening.
_DRAIN_TIMEOUT = 10.0
# How often the drain looks at the open connections.
_POLL = 0.05


def _reactor(reactor: Any) -> Any:
    if reactor is None:
        from twisted.internet import reactor as installed

        return installed
    return reactor


def listen(
    factory: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    reactor: Any = None,
) -> list[Any]:
    """``reactor.adoptStreamPort(fd, family, factory)`` for each listening stream socket;
    returns the listening ports (the reactor holds its own duplicate of each fd)."""
    _, streams = stream_sockets(config, resolution)
    return adopt(streams, factory, _reactor(reactor))


class _InheritedUnixPort(unix.Port):
    """An adopted Unix socket left as it was passed.

    Twisted's own adopted ``unix.Port`` chmods the socket file to 0666 (over systemd's
    ``SocketMode=``), calls ``listen(50)`` again (shrinking ``Backlog=``), ``shutdown()``s the
    listening socket when it stops (which ends listening for every process sharing it: the
    next generation too) and unlinks the file it did not create. This one does none of that.
    """

    def startListening(self) -> None:  # noqa: N802 - Twisted's name
        port: Any = self  # Twisted's attributes, typed loosely there
        port.factory.doStart()
        port.socket, port._preexistingSocket = port._preexistingSocket, None
        port._shouldShutdown = False
        port.connected = True
        port.fileno = port.socket.fileno
        port.numberAccepts = 100
        port.startReading()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 - Twisted's name
        lost: Any = tcp.Port.connectionLost  # not unix.Port's: it unlinks the path
        lost(self, reason)


def _adopt_one(resolved: ResolvedSocket, factory: Any, reactor: Any) -> Any:
    if resolved.socket.family != socket.AF_UNIX:
        return reactor.adoptStreamPort(resolved.fd, resolved.socket.family, factory)
    adopt_fd: Any = _InheritedUnixPort._fromListeningDescriptor  # it dup()s the fd
    port = adopt_fd(reactor, resolved.fd, factory)
    port.startListening()
    return port


def adopt(streams: tuple[ResolvedSocket, ...], factory: Any, reactor: Any) -> list[Any]:
    """Adopt each of *streams* with its own family; on a failure the ports adopted so far
    stop listening again."""
    ports: list[Any] = []
    try:
        for resolved in streams:
            ports.append(_adopt_one(resolved, factory, reactor))
    except BaseException:
        for port in ports:
            port.stopListening()
        raise
    return ports


@defer.inlineCallbacks
def drain(
    ports: list[Any],
    open_connections: Any,
    *,
    reactor: Any = None,
    accept_grace: float = _ACCEPT_GRACE,
    drain_timeout: float = _DRAIN_TIMEOUT,
) -> Any:
    """Stop listening on *ports*, wait *accept_grace* seconds, then until
    ``open_connections()`` is 0 (at most *drain_timeout* seconds). A Deferred."""
    clock = _reactor(reactor)
    yield defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in ports])
    yield task.deferLater(clock, accept_grace, lambda: None)
    deadline = time.monotonic() + drain_timeout
    while open_connections() and time.monotonic() < deadline:
        yield task.deferLater(clock, _POLL, lambda: None)


def run(
    factory: Any,
    config: ServerConfig | None = None,
    *,
    resolution: Resolution | None = None,
    reactor: Any = None,
    notify: bool = True,
    accept_grace: float = _ACCEPT_GRACE,
    drain_timeout: float = _DRAIN_TIMEOUT,
) -> None:
    """Serve *factory* on the listening stream sockets and run the reactor until it stops
    (SIGTERM/SIGINT), draining first (see the module docstring)."""
    _, streams = stream_sockets(config, resolution)
    reactor = _reactor(reactor)
    # the wrapper counts the open connections for the drain
    wrapped = WrappingFactory(factory)  # type: ignore[no-untyped-call]
    ports = adopt(streams, wrapped, reactor)

    def before_shutdown() -> Any:
        if notify:
            notify_stopping()
        return drain(
            ports,
            lambda: len(wrapped.protocols),
            reactor=reactor,
            accept_grace=accept_grace,
            drain_timeout=drain_timeout,
        )

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
    if notify:
        reactor.callWhenRunning(notify_ready, streams, "twisted")
    reactor.run()
