"""python-systemd's ``systemd.daemon`` in pure Python; public as :mod:`socket_activation.daemon`.

Same names, signatures, return values and exceptions as systemd-python 235 on libsystemd 252
(the argument rules are in :mod:`.cargs`), checked side by side with it and by its own
test_daemon.py. So a slim container needs no compiler and no libsystemd-dev::

    try:
        from systemd import daemon
    except ImportError:
        from socket_activation import daemon

Errors are the ``OSError`` subclass libsystemd's errno maps to (``ConnectionRefusedError``,
``FileNotFoundError``, ...), with the path as ``filename`` where the binding gives one;
``listen_fds*()`` raise :class:`~socket_activation.ActivationError`, an ``OSError`` with the same
errno. Deliberately different (README, "Drop-in for systemd.daemon"): ``unset_environment`` also
removes the variables from ``os.environ``; the variables are read from ``os.environ``, so
``os.unsetenv()`` alone does not hide them; ``NOTIFY_SOCKET`` may be a vsock address (systemd
253+; libsystemd 252 answers ``EINVAL``); ``notify(fds=None)`` means no fds.
"""

from __future__ import annotations

import errno
import os
import socket

from .._errors import NotifyError
from .cargs import binding_error, c_int, c_path, c_str, fd_sequence, fileno_or_self
from .daemon_sockaddr import SockaddrError, parse_sockaddr
from .environ import SD_LISTEN_FDS_START
from .fdkind import (
    sd_is_fifo,
    sd_is_mq,
    sd_is_socket,
    sd_is_socket_inet,
    sd_is_socket_sockaddr,
    sd_is_socket_unix,
)
from .listen_fds import listen_fds as _listen_fds_list
from .listen_fds import listen_fds_with_names as _listen_fds_dict
from .notify_send import _credentials, _send
from .notify_socket import NOTIFY_SOCKET, parse_notify_socket

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LISTEN_FDS_START",
    "booted",
    "is_fifo",
    "is_mq",
    "is_socket",
    "is_socket_inet",
    "is_socket_sockaddr",
    "is_socket_unix",
    "listen_fds",
    "listen_fds_with_names",
    "notify",
]

LISTEN_FDS_START = SD_LISTEN_FDS_START
_UINT16_MAX = 0xFFFF
# made by systemd very early in boot (mount-setup): what sd_booted() looks for
_RUNTIME_UNIT_DIR = "/run/systemd/system/"


def booted() -> bool:
    """True when this system runs systemd: ``/run/systemd/system/`` exists (sd_booted(3)).

    Checked as libsystemd does, with ``faccessat(F_OK, AT_SYMLINK_NOFOLLOW)``; an error other
    than "no such file" (``NotADirectoryError``, ``PermissionError``) is raised.
    """
    if os.access(_RUNTIME_UNIT_DIR, os.F_OK, follow_symlinks=False):
        return True
    try:  # access() gives no errno: the same lookup again to learn why
        os.stat(_RUNTIME_UNIT_DIR, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise binding_error(exc) from None
    # only the real uid may not see it (a setuid program): access() checks that one
    raise OSError(errno.EACCES, os.strerror(errno.EACCES))


def notify(status: str, unset_environment: Any = False, pid: Any = 0, fds: Any = None) -> bool:
    """Send *status* to the service manager (sd_pid_notify_with_fds(3)).

    ``False`` when ``NOTIFY_SOCKET`` is unset, ``True`` when sent; an ``OSError`` subclass when
    sending fails (``ConnectionRefusedError`` when nothing receives there). *pid* (0: this
    process) goes as ``SCM_CREDENTIALS`` when it is another process, falling back to the
    kernel's own credentials if it refuses those; *fds*, a sequence of ints, go as
    ``SCM_RIGHTS``. With *unset_environment* ``NOTIFY_SOCKET`` is removed afterwards on every
    path, from ``os.environ`` too.
    """
    state = c_str(status, 1, "notify")
    unset = bool(unset_environment)
    sender = c_int(pid)
    if sender < 0:
        raise OverflowError(f"Bad pid_t: {sender}")
    numbers = fd_sequence(fds)
    try:
        text = os.environ.get(NOTIFY_SOCKET)
        if text is None:
            return False
        try:
            address = parse_notify_socket(text)
            _send(address, state.encode("utf-8"), numbers, _credentials(sender))
        except NotifyError as exc:
            raise binding_error(exc) from exc  # the cause names NOTIFY_SOCKET's value
        return True
    finally:
        if unset:
            os.environ.pop(NOTIFY_SOCKET, None)


def _listen_fds(unset_environment: Any = True) -> int:
    """sd_listen_fds(3): how many fds were passed (the binding's private helper)."""
    return len(_listen_fds_list(bool(unset_environment)))


def _listen_fds_with_names(unset_environment: Any = False) -> tuple[Any, ...]:
    """sd_listen_fds_with_names(3) as the binding's private helper: ``(n, name, ...)``."""
    names = _listen_fds_dict(bool(unset_environment))
    return (len(names), *names.values())


def listen_fds(unset_environment: Any = True) -> list[int]:
    """The fds passed by socket activation: ``[3, 4, ...]``, or ``[]`` when none are ours.

    Marks them close-on-exec. With *unset_environment* (the default) ``LISTEN_PID``,
    ``LISTEN_FDS`` and ``LISTEN_FDNAMES`` are removed, from ``os.environ`` too. Malformed
    variables raise :class:`~socket_activation.ActivationError` (an ``OSError``) with
    libsystemd's errno.
    """
    return list(range(LISTEN_FDS_START, LISTEN_FDS_START + _listen_fds(unset_environment)))


def listen_fds_with_names(unset_environment: Any = True) -> dict[int, str]:
    """``{fd: name}`` for the passed fds, ``"unknown"`` for each when LISTEN_FDNAMES is unset.

    As :func:`listen_fds`; a name count that differs from ``LISTEN_FDS`` is ``EINVAL``.
    """
    count, *names = _listen_fds_with_names(unset_environment)
    return {LISTEN_FDS_START + index: names[index] for index in range(count)}


def _is_fifo(fd: Any, path: Any = None, /) -> bool:
    """sd_is_fifo(3) on an int fd (the binding's private helper)."""
    number, raw = c_int(fd), c_path(path)
    try:
        return sd_is_fifo(number, raw)
    except OSError as exc:
        raise binding_error(exc, raw) from None


def _is_mq(fd: Any, path: Any = None, /) -> bool:
    """sd_is_mq(3) on an int fd (the binding's private helper)."""
    number, raw = c_int(fd), c_path(path)
    try:
        return sd_is_mq(number, raw)
    except OSError as exc:
        raise binding_error(exc, raw) from None


def _is_socket(fd: Any, family: Any = 0, type: Any = 0, listening: Any = -1, /) -> bool:
    """sd_is_socket(3) on an int fd (the binding's private helper)."""
    args = (c_int(fd), c_int(family), c_int(type), c_int(listening))
    try:
        return sd_is_socket(*args)
    except OSError as exc:
        raise binding_error(exc) from None


def _is_socket_inet(
    fd: Any, family: Any = 0, type: Any = 0, listening: Any = -1, port: Any = 0, /
) -> bool:
    """sd_is_socket_inet(3) on an int fd (the binding's private helper)."""
    args = (c_int(fd), c_int(family), c_int(type), c_int(listening), c_int(port))
    if not 0 <= args[4] <= _UINT16_MAX:
        raise ValueError(f"port must fit into uint16_t, got {args[4]}")
    try:
        return sd_is_socket_inet(*args)
    except OSError as exc:
        raise binding_error(exc) from None


def _is_socket_sockaddr(
    fd: Any, address: Any, type: Any = 0, flowinfo: Any = 0, listening: Any = -1, /
) -> bool:
    """sd_is_socket_sockaddr(3) on an int fd and an address text (the binding's helper)."""
    number = c_int(fd)
    text = c_str(address, 2, "_is_socket_sockaddr")
    sock_type, flow, accepting = c_int(type), c_int(flowinfo), c_int(listening)
    try:
        parsed = parse_sockaddr(text)
    except SockaddrError as exc:
        if exc.errno == errno.EINVAL:  # the binding's own message for EINVAL is a ValueError
            raise ValueError(f"Cannot parse address {text!r}") from None
        raise OSError(exc.errno, os.strerror(exc.errno)) from None
    if flow != 0 and parsed.family != socket.AF_INET6:
        raise ValueError(f"flowinfo is only applicable to IPv6 addresses, got {text!r}")
    try:
        return sd_is_socket_sockaddr(
            number,
            sock_type,
            parsed,
            flow & 0xFFFFFFFF,  # stored in the uint32 sin6_flowinfo as given, not byte-swapped
            accepting,
        )
    except OSError as exc:
        raise binding_error(exc) from None


def _is_socket_unix(fd: Any, type: Any = 0, listening: Any = -1, path: Any = None, /) -> bool:
    """sd_is_socket_unix(3) on an int fd (the binding's private helper)."""
    args = (c_int(fd), c_int(type), c_int(listening))
    raw = c_path(path)
    try:
        return sd_is_socket_unix(*args, raw)
    except OSError as exc:
        raise binding_error(exc, raw) from None


def is_fifo(fileobj: Any, path: Any = None) -> bool:
    """True when *fileobj* (an fd, or anything with ``fileno()``) is a FIFO or a pipe; with
    *path*, the FIFO at *path*. ``OSError`` when it cannot be examined (``EBADF``)."""
    return _is_fifo(fileno_or_self(fileobj), path)


def is_socket(
    fileobj: Any, family: Any = socket.AF_UNSPEC, type: Any = 0, listening: Any = -1
) -> bool:
    """True when *fileobj* is a socket of *family* and *type* (0: any) that is listening
    (*listening* 1), not listening (0) or either (-1)."""
    return _is_socket(fileno_or_self(fileobj), family, type, listening)


def is_socket_inet(
    fileobj: Any,
    family: Any = socket.AF_UNSPEC,
    type: Any = 0,
    listening: Any = -1,
    port: Any = 0,
) -> bool:
    """Like :func:`is_socket` for IPv4/IPv6 (*family* ``AF_UNSPEC``, ``AF_INET`` or
    ``AF_INET6``, else ``OSError`` ``EINVAL``), bound to *port* unless it is 0."""
    return _is_socket_inet(fileno_or_self(fileobj), family, type, listening, port)


def is_socket_sockaddr(
    fileobj: Any, address: Any, type: Any = 0, flowinfo: Any = 0, listening: Any = -1
) -> bool:
    """True when *fileobj* is a socket bound to *address*: ``"127.0.0.1"``, ``"127.0.0.1:80"``,
    ``"[::1]:80"``, a port (the syntax: :mod:`.daemon_sockaddr`; ``ValueError`` when it does not
    parse). *flowinfo* applies to IPv6 only."""
    return _is_socket_sockaddr(fileno_or_self(fileobj), address, type, flowinfo, listening)


def is_socket_unix(fileobj: Any, type: Any = 0, listening: Any = -1, path: Any = None) -> bool:
    """True when *fileobj* is an AF_UNIX socket of *type*, listening as asked, and bound to
    *path* unless it is None (``""``: unnamed)."""
    return _is_socket_unix(fileno_or_self(fileobj), type, listening, path)


def is_mq(fileobj: Any, path: Any = None) -> bool:
    """True when *fileobj* is a POSIX message queue; with *path* (absolute, looked up under
    ``/dev/mqueue``), that queue."""
    return _is_mq(fileno_or_self(fileobj), path)
