"""What an fd is: family, type, listening state and addresses, read from the kernel.

Used for every inherited fd (systemd, launchd, fd store) and for every socket the library binds,
so ``inspect`` and the resolver describe both the same way. Nothing here changes an fd.
"""

from __future__ import annotations

import errno
import os
import socket
import stat

from .._record import record
from .sockaddr import SocketAddress

__all__ = ["SocketInfo", "describe_fd", "describe_socket", "format_sockaddr", "kind_of"]


@record
class SocketInfo:
    """A socket as the kernel reports it.

    ``kind`` is ``tcp``, ``udp``, ``unix-stream``, ``unix-dgram``, ``unix-seqpacket``,
    ``vsock-stream`` ... or ``FAMILY/TYPE`` for anything else. ``listening`` is the
    ``SO_ACCEPTCONN`` flag (always False for datagram sockets). ``sockname`` and ``peername``
    are the typed addresses (:class:`SocketAddress`); ``address`` and ``peer`` print them in
    canonical form (``127.0.0.1:8080``, ``[::]:8080``, ``/run/app.sock``, ``@name``).
    """

    fd: int
    family: socket.AddressFamily
    type: socket.SocketKind
    kind: str
    listening: bool
    sockname: SocketAddress
    peername: SocketAddress | None

    @property
    def address(self) -> str:
        """The bound address in canonical text (``127.0.0.1:8080``, ``/run/app.sock``)."""
        return str(self.sockname)

    @property
    def peer(self) -> str | None:
        """The connected peer's address in canonical text, or None when not connected."""
        return None if self.peername is None else str(self.peername)

    @property
    def is_connection(self) -> bool:
        """True for a connected stream socket (``Accept=yes``, inetd), not a listener."""
        return self.peername is not None and not self.listening

    @property
    def is_datagram(self) -> bool:
        """True for datagram sockets (UDP, unix-dgram)."""
        return self.type == socket.SOCK_DGRAM


# SOCK_* value -> the suffix of kind names ("unix-stream", "vsock-dgram")
_TYPE_SUFFIX: dict[int, str] = {
    socket.SOCK_STREAM: "stream",
    socket.SOCK_DGRAM: "dgram",
    socket.SOCK_SEQPACKET: "seqpacket",
}


def kind_of(family: int, type_: int) -> str:
    """The short kind name of a socket family and type: ``tcp``, ``udp``, ``unix-stream``, ..."""
    suffix = _TYPE_SUFFIX.get(type_)
    if family in (socket.AF_INET, socket.AF_INET6):
        if type_ == socket.SOCK_STREAM:
            return "tcp"
        if type_ == socket.SOCK_DGRAM:
            return "udp"
    if family == socket.AF_UNIX and suffix:
        return f"unix-{suffix}"
    if family == getattr(socket, "AF_VSOCK", -1) and suffix:
        return f"vsock-{suffix}"
    return f"{_name(socket.AddressFamily, family)}/{_name(socket.SocketKind, type_)}"


def _name(enum_type: type[socket.AddressFamily] | type[socket.SocketKind], value: int) -> str:
    try:
        return enum_type(value).name
    except ValueError:
        return str(value)


def format_sockaddr(family: int, addr: object) -> str:
    """Canonical text for a ``getsockname()``/``getpeername()`` result."""
    return str(SocketAddress.from_sockaddr(family, addr))


def describe_socket(sock: socket.socket) -> SocketInfo:
    """Describe an open socket object (its fd is not changed)."""
    family = socket.AddressFamily(sock.family)
    stype = socket.SocketKind(sock.type)
    try:
        listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        listening = False
    try:
        sockname = SocketAddress.from_sockaddr(family, sock.getsockname())
    except OSError:
        sockname = SocketAddress.unknown(family)
    peername: SocketAddress | None = None
    if not listening:  # a listening socket has no peer: skip the syscall and its exception
        try:
            peername = SocketAddress.from_sockaddr(family, sock.getpeername())
        except OSError:
            peername = None
    return SocketInfo(
        fd=sock.fileno(),
        family=family,
        type=stype,
        kind=kind_of(family, stype),
        listening=listening,
        sockname=sockname,
        peername=peername,
    )


def what_is_fd(fd: int) -> str:
    """A short description of what a non-socket fd is, for diagnostics."""
    try:
        st = os.fstat(fd)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            return "not open"
        return f"not usable ({os.strerror(exc.errno or 0)})"
    target = _fd_target(fd)
    if stat.S_ISCHR(st.st_mode):
        return f"a character device ({target})" if target else "a character device"
    if stat.S_ISREG(st.st_mode):
        return f"a regular file ({target})" if target else "a regular file"
    if stat.S_ISFIFO(st.st_mode):
        return "a pipe or FIFO"
    if stat.S_ISDIR(st.st_mode):
        return f"a directory ({target})" if target else "a directory"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket"
    return f"not a socket (mode {st.st_mode:o})"


def _fd_target(fd: int) -> str | None:
    for link in (f"/proc/self/fd/{fd}", f"/dev/fd/{fd}"):
        try:
            return os.readlink(link)
        except OSError:
            continue
    return None


def describe_fd(fd: int) -> SocketInfo | str:
    """Describe *fd*: a :class:`SocketInfo` when it is a socket, else why it is not one.

    The fd is neither closed nor changed; the returned string reads as a completion of
    "fd N is ...", e.g. ``"not open"`` or ``"a character device (/dev/null)"``.
    """
    try:
        st = os.fstat(fd)
    except OSError:
        return what_is_fd(fd)
    if not stat.S_ISSOCK(st.st_mode):
        return what_is_fd(fd)
    sock = socket.socket(fileno=fd)
    try:
        return describe_socket(sock)
    finally:
        sock.detach()
