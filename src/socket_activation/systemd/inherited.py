"""The fd edge: what each fd handed to this process is, marked CLOEXEC, wrapped once.

:func:`examine_fds` asks the kernel about every passed fd (``describe_fd``: fstat, SO_TYPE,
SO_ACCEPTCONN, addresses), marks the open ones close-on-exec and notes anything ignored;
:class:`InheritedFd` is one such fd, and :meth:`InheritedFd.socket` wraps it as a
``socket.socket`` of its real family and type, the same object on every call.

On the activated start-up path: ``resource`` is imported only for more than 1024 fds.
"""

from __future__ import annotations

import os
import socket

from .._errors import InheritedSocketError
from .._record import record
from ..net.sockinfo import SocketInfo, describe_fd
from .environ import LISTEN_FDS, SD_LISTEN_FDS_START

__all__ = ["InheritedFd", "examine_fds", "open_file_limit", "set_cloexec"]

# Below this many passed fds, every one is examined without asking for the open-file limit.
_FEW_FDS = 1024
# The socket class, spelled once: inside InheritedFd the name ``socket`` is its method.
_Socket = socket.socket

# Wrapped socket objects, one per fd, so asking twice never gives two owners of one fd.
_wrapped: dict[int, _Socket] = {}


def set_cloexec(fd: int) -> None:
    """Set FD_CLOEXEC on *fd*, as libsystemd's fd_cloexec(fd, true); EBADF when not open.

    ``os.set_inheritable`` does exactly this (FIOCLEX) without importing fcntl.
    """
    os.set_inheritable(fd, False)


@record
class InheritedFd:
    """One fd handed to this process, with its name and what the kernel says it is.

    ``info`` is a :class:`SocketInfo` for a socket, else a phrase completing "fd N is ..."
    (``"not open"``, ``"a character device (/dev/null)"``).
    """

    fd: int
    name: str
    info: SocketInfo | str

    @property
    def is_socket(self) -> bool:
        """True when the fd is an open socket."""
        return isinstance(self.info, SocketInfo)

    @property
    def is_connection(self) -> bool:
        """True for an accepted connection (``Accept=yes``, inetd), not a listener."""
        if not isinstance(self.info, SocketInfo):
            return False
        if self.info.is_connection:
            return True
        return self.name == "connection" and not self.info.listening and not self.info.is_datagram

    @property
    def is_listener(self) -> bool:
        """True for a socket to serve: listening stream, or datagram socket."""
        return self.is_socket and not self.is_connection

    @property
    def kind(self) -> str | None:
        """``tcp``, ``udp``, ``unix-stream``, ... or None when not a socket."""
        return self.info.kind if isinstance(self.info, SocketInfo) else None

    def socket(self, *, nonblocking: bool = False) -> _Socket:
        """A ``socket.socket`` owning this fd, of the fd's real family and type.

        The same object is returned on every call in this process. Nothing is changed on the
        socket (no ``listen()``, no options) except ``setblocking(False)`` when *nonblocking*.
        """
        if not isinstance(self.info, SocketInfo):
            raise InheritedSocketError(
                f"fd {self.fd} ({self.name!r}) is {self.info}, not a socket", fd=self.fd
            )
        sock = _wrapped.get(self.fd)
        if sock is None:
            # family and type are known from describe_fd: passing them spares the three
            # getsockopt() calls socket(fileno=...) makes to find them out
            sock = _Socket(self.info.family, self.info.type, fileno=self.fd)
            _wrapped[self.fd] = sock
        elif sock.fileno() == -1:
            raise InheritedSocketError(
                f"fd {self.fd} ({self.name!r}) was already wrapped and then closed", fd=self.fd
            )
        if nonblocking:
            sock.setblocking(False)
        return sock


def open_file_limit(count: int) -> int:
    """The soft RLIMIT_NOFILE: no fd at or above it can be open, so none is examined there."""
    if count <= _FEW_FDS:  # skip the resource import on the start-up path
        return SD_LISTEN_FDS_START + count
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft > 0 else 1 << 20


def examine_fds(
    fds: range, names: tuple[str, ...]
) -> tuple[tuple[InheritedFd, ...], tuple[str, ...]]:
    """Describe each passed fd, CLOEXEC the open ones; notes say what was ignored and why.

    A socket is kept; a closed fd or a non-socket is kept as such with a note (a non-socket is
    still marked CLOEXEC so it does not leak into children). Fds at or above the open-file
    limit cannot be open and are not examined.
    """
    notes: list[str] = []
    limit = open_file_limit(len(fds))
    entries: list[InheritedFd] = []
    for fd, name in zip(fds, names, strict=True):
        if fd >= limit:
            notes.append(
                f"{LISTEN_FDS}={len(fds)} goes beyond the open-file limit {limit}; "
                f"fds from {fd} on were not examined"
            )
            break
        info = describe_fd(fd)
        if isinstance(info, SocketInfo):
            set_cloexec(fd)
        elif info == "not open":
            notes.append(f"fd {fd} ({name!r}) is not open — did an entrypoint script close it?")
        else:
            set_cloexec(fd)
            notes.append(f"fd {fd} ({name!r}) is {info}, not a socket; ignored")
        entries.append(InheritedFd(fd, name, info))
    return tuple(entries), tuple(notes)
