"""What every integration needs: the listening stream sockets, their backlog, readiness."""

from __future__ import annotations

import socket
import struct

from .._errors import ConfigError
from .._resolve import Resolution, ResolvedSocket, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["listen_backlog", "notify_ready", "notify_stopping", "stream_sockets"]

# struct tcp_info (linux/tcp.h): 8 one-byte fields, then u32s; for a listening socket the
# kernel reports the accept queue's limit (sk_max_ack_backlog) in tcpi_sacked, the 6th u32.
_TCP_INFO = struct.Struct("8B6I")
_TCPI_SACKED = 8 + 5


def stream_sockets(
    config: ServerConfig | None = None, resolution: Resolution | None = None
) -> tuple[Resolution, tuple[ResolvedSocket, ...]]:
    """The resolution (resolved from *config* unless given) and its listening stream sockets.

    The sockets :func:`resolve` binds here are closed again on that error. Raises
    :class:`ConfigError` naming what there is when no socket can accept connections
    (only datagram sockets, or only ``Accept=yes`` connections, were passed).
    """
    owned = resolution is None
    if resolution is None:
        resolution = resolve(config)
    streams = resolution.stream
    if not streams:
        have = ", ".join(f"fd {s.fd} {s.kind} {s.address}" for s in resolution) or "nothing"
        if owned:
            resolution.close()
        raise ConfigError(
            f"no listening stream socket to serve on (have: {have})", source="resolved sockets"
        )
    return resolution, streams


def listen_backlog(sock: socket.socket, default: int = socket.SOMAXCONN) -> int:
    """The accept-queue limit *sock* listens with, so a server re-calling ``listen()`` keeps it.

    asyncio (and so uvicorn and hypercorn) calls ``listen(backlog)`` again on every socket it
    serves, with 100 unless told otherwise, shrinking systemd's ``Backlog=``. Linux tells a TCP
    socket's limit through ``TCP_INFO``; for others (Unix sockets) *default* is returned
    (``SOMAXCONN``: the kernel caps it at ``net.core.somaxconn``, as systemd's default does).
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not hasattr(socket, "TCP_INFO"):
        return default
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
    except OSError:
        return default
    if len(raw) < _TCP_INFO.size:
        return default
    return int(_TCP_INFO.unpack(raw)[_TCPI_SACKED]) or default


def notify_ready(sockets: tuple[ResolvedSocket, ...], server: str) -> None:
    """``READY=1`` with a ``STATUS=`` naming what is served (no-op without NOTIFY_SOCKET)."""
    from ..systemd.notify import ready

    where = ", ".join(s.address for s in sockets)
    ready(status=f"{server} serving {where}")


def notify_stopping() -> None:
    """``STOPPING=1`` (no-op without NOTIFY_SOCKET)."""
    from ..systemd.notify import stopping

    stopping()
