"""What the resolver returns: :class:`Resolution`, the sockets to serve on, each a
:class:`ResolvedSocket` saying where it came from. Values only; :mod:`._resolve` builds them.
"""

from __future__ import annotations

import socket

from ._record import record
from .net.bind import close_all, remove_unix_socket

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .config import ListenSpec
    from .net.sockaddr import SocketAddress

__all__ = ["Resolution", "ResolvedSocket"]

_Socket = socket.socket  # the field named `socket` below shadows the module in annotations


@record
class ResolvedSocket:
    """One socket to serve on, and where it came from.

    ``source`` is ``systemd``, ``inetd``, ``launchd`` or ``bound``; ``kind`` is ``tcp``,
    ``udp``, ``unix-stream``, ``unix-dgram``, ``unix-seqpacket``; ``address`` is canonical
    (``127.0.0.1:8080``, ``[::]:8080``, ``/run/app.sock``, ``@name``). ``listening`` is False
    for datagram sockets and for connections (``Accept=yes``, inetd). ``workers`` holds one
    socket per worker: the same object repeated when shared (every inherited socket), or
    distinct ``SO_REUSEPORT`` sockets when bound for several workers.
    """

    socket: socket.socket
    name: str
    source: str
    kind: str
    address: str
    listening: bool
    is_connection: bool = False
    spec: ListenSpec | None = None
    workers: tuple[_Socket, ...] = ()
    sockname: SocketAddress | None = None

    @property
    def fd(self) -> int:
        """The socket's file descriptor."""
        return self.socket.fileno()

    @property
    def inherited(self) -> bool:
        """True when the socket came from a service manager, not bound here."""
        return self.source != "bound"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``socket-activation inspect --json`` prints."""
        return {
            "fd": self.fd,
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "address": self.address,
            "listening": self.listening,
        }


@record
class Resolution:
    """The sockets to serve on, and notes explaining anything ignored."""

    sockets: tuple[ResolvedSocket, ...]
    notes: tuple[str, ...] = ()
    remote_addr: str | None = None
    remote_port: int | None = None
    bound: tuple[_Socket, ...] = ()  # the sockets resolve() bound: close() closes these

    def __iter__(self) -> Iterator[ResolvedSocket]:
        return iter(self.sockets)

    def __len__(self) -> int:
        return len(self.sockets)

    @property
    def activated(self) -> bool:
        """True when any socket came from a service manager."""
        return any(s.inherited for s in self.sockets)

    def named(self, name: str) -> tuple[ResolvedSocket, ...]:
        """The sockets with fd name *name*."""
        return tuple(s for s in self.sockets if s.name == name)

    def of_kind(self, *kinds: str) -> tuple[ResolvedSocket, ...]:
        """The sockets of the given kinds (``tcp``, ``udp``, ``unix-stream``, ...)."""
        return tuple(s for s in self.sockets if s.kind in kinds)

    @property
    def stream(self) -> tuple[ResolvedSocket, ...]:
        """Listening stream sockets (TCP and Unix): what an HTTP/1-2 server accepts on."""
        return tuple(s for s in self.sockets if s.listening)

    @property
    def datagram(self) -> tuple[ResolvedSocket, ...]:
        """Datagram sockets (UDP for HTTP/3, unix-dgram)."""
        return tuple(s for s in self.sockets if s.socket.type == socket.SOCK_DGRAM)

    def for_worker(self, index: int) -> list[socket.socket]:
        """The sockets worker *index* serves on (shared ones are the same object)."""
        return [s.workers[index % len(s.workers)] if s.workers else s.socket for s in self]

    def to_dict(self) -> dict[str, Any]:
        """``{"sockets": [...], "notes": [...]}``, as ``inspect --json`` prints it."""
        return {"sockets": [s.to_dict() for s in self.sockets], "notes": list(self.notes)}

    def close(self) -> None:
        """Close the sockets bound by :func:`resolve` and remove the Unix socket files it
        created (inherited sockets stay open; a file handed over to another process, or
        replaced since, is left alone)."""
        paths = [
            s.sockname.path
            for s in self.sockets
            if not s.inherited
            and s.sockname is not None
            and s.sockname.is_unix_path
            and s.sockname.path
        ]
        close_all(list(self.bound))
        for path in paths:
            remove_unix_socket(path)
