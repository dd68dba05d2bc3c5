"""libsystemd's ``sd_is_*()`` checks in pure Python: what kind of file an fd is (SPEC R20-R26).

Each function answers as libsystemd 252 does for the same fd and arguments: ``True`` or
``False``, or an ``OSError`` with the errno libsystemd would return (the builtin subclass that
errno maps to, e.g. ``FileNotFoundError`` for ``ENOENT``; never a filename: the binding adds
that). Nothing here changes the fd. Addresses arrive parsed (:mod:`.daemon_sockaddr`), paths as
bytes.

:func:`sd_is_mq` needs ``mq_getattr(3)``, which :mod:`os` lacks: it loads ctypes on first use.
"""

from __future__ import annotations

import errno
import os
import socket
import stat

from .daemon_sockaddr import ParsedSockaddr

__all__ = [
    "sd_is_fifo",
    "sd_is_mq",
    "sd_is_socket",
    "sd_is_socket_inet",
    "sd_is_socket_sockaddr",
    "sd_is_socket_unix",
]

# where sd_is_mq() looks a queue name up: a mount of the mqueue filesystem
_MQUEUE_DIR = b"/dev/mqueue"
# sizeof(struct mq_attr) on 64-bit Linux: four longs and four reserved longs
_MQ_ATTR_SIZE = 64


def _error(err: int) -> OSError:
    """A fresh ``OSError`` for *err*; ``OSError(errno, ...)`` picks the builtin subclass."""
    return OSError(err, os.strerror(err))


def _errno(exc: OSError) -> int:
    return exc.errno if exc.errno is not None else errno.EIO


class _Borrowed:
    """A ``socket.socket`` view of an fd it does not own: detached on exit, never closed.

    ``socket.socket(fileno=fd)`` sets the fd non-blocking when a global default timeout is set
    (``socket.setdefaulttimeout``); the fd's blocking mode is put back, so nothing changes.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.blocking: bool | None = None

    def __enter__(self) -> socket.socket:
        if socket.getdefaulttimeout() is not None:
            self.blocking = os.get_blocking(self.fd)
        try:
            self.sock = socket.socket(fileno=self.fd)
        except OSError as exc:
            raise _error(_errno(exc)) from None
        return self.sock

    def __exit__(self, *exc_info: object) -> None:
        self.sock.detach()
        if self.blocking is not None:
            os.set_blocking(self.fd, self.blocking)


def _getsockopt(sock: socket.socket, option: int) -> int:
    try:
        return sock.getsockopt(socket.SOL_SOCKET, option)
    except OSError as exc:
        raise _error(_errno(exc)) from None


def _getsockname(sock: socket.socket) -> object:
    try:
        return sock.getsockname()
    except OSError as exc:
        raise _error(_errno(exc)) from None


def _fstat(fd: int) -> os.stat_result:
    try:
        return os.fstat(fd)
    except OSError as exc:
        raise _error(_errno(exc)) from None


def _is_socket_internal(fd: int, type: int, listening: int) -> bool:
    """``is_socket_internal()``: a socket, of *type* unless 0, listening as asked unless < 0."""
    if fd < 0:
        raise _error(errno.EBADF)
    if type < 0:
        raise _error(errno.EINVAL)
    if not stat.S_ISSOCK(_fstat(fd).st_mode):
        return False
    if type == 0 and listening < 0:
        return True
    with _Borrowed(fd) as sock:
        if type != 0 and _getsockopt(sock, socket.SO_TYPE) != type:
            return False
        if listening >= 0:
            accepting = _getsockopt(sock, socket.SO_ACCEPTCONN)
            return bool(accepting) == bool(listening)
    return True


def sd_is_fifo(fd: int, path: bytes | None) -> bool:
    """``sd_is_fifo()``: a FIFO or pipe; with *path*, the FIFO at that path (R24)."""
    if fd < 0:
        raise _error(errno.EBADF)
    st_fd = _fstat(fd)
    if not stat.S_ISFIFO(st_fd.st_mode):
        return False
    if path is None:
        return True
    try:
        st_path = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise _error(_errno(exc)) from None
    return _same_inode(st_fd, st_path)


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    """``stat_inode_same()``: same file type, device and inode."""
    return stat.S_IFMT(a.st_mode) == stat.S_IFMT(b.st_mode) and (a.st_dev, a.st_ino) == (
        b.st_dev,
        b.st_ino,
    )


def sd_is_socket(fd: int, family: int, type: int, listening: int) -> bool:
    """``sd_is_socket()``: a socket of *family* and *type* (0: any), listening as asked (R20)."""
    if fd < 0:
        raise _error(errno.EBADF)
    if family < 0:
        raise _error(errno.EINVAL)
    if not _is_socket_internal(fd, type, listening):
        return False
    if family == 0:
        return True
    with _Borrowed(fd) as sock:
        _getsockname(sock)
        return sock.family == family


def sd_is_socket_inet(fd: int, family: int, type: int, listening: int, port: int) -> bool:
    """``sd_is_socket_inet()``: IPv4/IPv6, *family* 0 or AF_INET(6), *port* 0 for any (R21)."""
    if fd < 0:
        raise _error(errno.EBADF)
    if family not in (0, socket.AF_INET, socket.AF_INET6):
        raise _error(errno.EINVAL)
    if not _is_socket_internal(fd, type, listening):
        return False
    with _Borrowed(fd) as sock:
        name = _getsockname(sock)
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        if family not in (0, sock.family):
            return False
    if port > 0:
        assert isinstance(name, tuple)
        return bool(name[1] == port)
    return True


def sd_is_socket_sockaddr(
    fd: int, type: int, address: ParsedSockaddr, flowinfo: int, listening: int
) -> bool:
    """``sd_is_socket_sockaddr()``: bound to exactly *address* (R22).

    Its port, scope id and *flowinfo* (the raw ``sin6_flowinfo``, in network order) are
    compared only when non-zero.
    """
    if fd < 0:
        raise _error(errno.EBADF)
    if address.family not in (socket.AF_INET, socket.AF_INET6):
        raise _error(errno.EPFNOSUPPORT)
    if not _is_socket_internal(fd, type, listening):
        return False
    with _Borrowed(fd) as sock:
        name = _getsockname(sock)
        if sock.family != address.family:
            return False
    assert isinstance(name, tuple)
    if address.port != 0 and name[1] != address.port:
        return False
    if address.family == socket.AF_INET6:
        # Python reports sin6_flowinfo in host order; libsystemd compares the raw field
        if flowinfo != 0 and socket.htonl(name[2]) != flowinfo:
            return False
        if address.scope_id != 0 and name[3] != address.scope_id:
            return False
    host = str(name[0]).partition("%")[0]
    return socket.inet_pton(address.family, host) == address.packed


def sd_is_socket_unix(fd: int, type: int, listening: int, path: bytes | None) -> bool:
    """``sd_is_socket_unix()``: an AF_UNIX socket; with *path*, bound to it (R23).

    ``b""`` matches an unnamed socket only; a path starting with NUL is an abstract name (the
    binding cannot pass one: it refuses embedded NULs); ``@name`` is a plain path here.
    """
    if fd < 0:
        raise _error(errno.EBADF)
    if not _is_socket_internal(fd, type, listening):
        return False
    with _Borrowed(fd) as sock:
        name = _getsockname(sock)
        if sock.family != socket.AF_UNIX:
            return False
    if path is None:
        return True
    # getsockname() gives str for a path (up to its NUL), bytes for an abstract name
    raw = name if isinstance(name, bytes) else os.fsencode(str(name))
    return raw == path


def sd_is_mq(fd: int, path: bytes | None) -> bool:
    """``sd_is_mq()``: a POSIX message queue; with *path*, the queue of that name (R26)."""
    try:
        os.get_inheritable(fd)  # fcntl(F_GETFD): is the fd open at all?
    except OSError as exc:
        raise _error(_errno(exc)) from None
    err = _mq_getattr(fd)
    if err == errno.EBADF:  # an open fd that is not a queue
        return False
    if err:
        raise _error(err)
    if path is None:
        return True
    if not path.startswith(b"/"):
        raise _error(errno.EINVAL)
    st_fd = _fstat(fd)
    try:
        st_path = os.stat(_MQUEUE_DIR + path)
    except OSError as exc:
        raise _error(_errno(exc)) from None
    return _same_inode(st_fd, st_path)


_libc_mq_getattr: object = None


def _mq_getattr(fd: int) -> int:
    """``mq_getattr(fd)``: 0 or the errno it fails with."""
    global _libc_mq_getattr  # noqa: PLW0603 - the symbol, looked up once
    import ctypes

    if _libc_mq_getattr is None:
        try:
            _libc_mq_getattr = ctypes.CDLL(None, use_errno=True).mq_getattr
        except AttributeError:  # glibc < 2.34 keeps the mq_* functions in librt
            _libc_mq_getattr = ctypes.CDLL("librt.so.1", use_errno=True).mq_getattr
    buf = ctypes.create_string_buffer(_MQ_ATTR_SIZE)
    function = _libc_mq_getattr
    assert callable(function)
    if function(fd, buf) == 0:
        return 0
    return ctypes.get_errno()
