"""The edge of systemd socket activation: read LISTEN_* once, mark fds CLOEXEC, unset, wrap.

Two layers:

* :func:`listen_fds` and :func:`listen_fds_with_names` give exactly what
  ``systemd.daemon``'s functions of the same names give (same shapes, same errors as
  :class:`ActivationError` with libsystemd's errno), but also remove the variables from
  ``os.environ``, so a child started later does not inherit a stale ``LISTEN_FDS``.
* :func:`systemd_activation` reads the environment once per process, caches the answer (keyed
  by pid, so a forked child reads again) and describes every passed fd as the kernel sees it,
  with notes on anything ignored. It also recognises inetd-style activation (a socket on fd 0,
  no LISTEN_* variables).

This module is on the activated start-up path: it imports nothing heavy (no pydantic, no
asyncio).
"""

from __future__ import annotations

import errno
import os
import socket

from .._errors import ActivationError, InheritedSocketError
from .._record import record
from ..net.sockinfo import SocketInfo, describe_fd
from .environ import (
    LISTEN_FDS,
    LISTEN_PIDFDID,
    LISTEN_VARIABLES,
    SD_LISTEN_FDS_START,
    ListenEnv,
    parse_listen_env,
)

TYPE_CHECKING = False  # typing/collections cost milliseconds; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "SD_LISTEN_FDS_START",
    "InheritedFd",
    "SystemdActivation",
    "listen_fds",
    "listen_fds_with_names",
    "systemd_activation",
]

REMOTE_ADDR = "REMOTE_ADDR"
REMOTE_PORT = "REMOTE_PORT"
# Linux statfs f_type of pidfs (kernel >= 6.9): only there is a pidfd's inode a unique id.
_PID_FS_MAGIC = 0x50494446
# Name given to an inetd-style socket on stdin (StandardInput=socket, --inetd).
INETD_NAME = "stdin"
# Below this many passed fds, every one is examined without asking for the open-file limit.
_FEW_FDS = 1024
# The socket class, spelled once: inside InheritedFd the name ``socket`` is its method.
_Socket = socket.socket


def _is_pidfs(fd: int) -> bool:
    """True when *fd* lives on pidfs, read with fstatfs(2) (ctypes: os has no fstatfs)."""
    import ctypes  # only reached when LISTEN_PIDFDID is set: keep it off the start-up path

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if libc.fstatfs(fd, buf) != 0:
        return False
    f_type = ctypes.c_long.from_buffer(buf).value
    return f_type == _PID_FS_MAGIC


def own_pidfd_inode_id() -> int | None:
    """This process's pidfd inode id (what systemd puts in LISTEN_PIDFDID), or None.

    None when the kernel has no ``pidfd_open`` or its pidfds are not on pidfs (before 6.9),
    where the inode is shared and says nothing; systemd then falls back to LISTEN_PID alone.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd = pidfd_open(os.getpid())
    except OSError:
        return None
    try:
        if not _is_pidfs(fd):
            return None
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def _parse(
    environ: Mapping[str, str], pid: int | None, *, with_names: bool, trust_pid1: bool = False
) -> ListenEnv:
    own_pid = os.getpid()
    pidfdid = None
    # The pidfd id is only ours to compute for this very process.
    if LISTEN_PIDFDID in environ and pid in (None, own_pid):
        pidfdid = own_pidfd_inode_id()
    return parse_listen_env(
        environ,
        own_pid if pid is None else pid,
        pidfdid=pidfdid,
        with_names=with_names,
        trust_pid1=trust_pid1,
    )


def _set_cloexec(fd: int) -> None:
    """Set FD_CLOEXEC on *fd*, as libsystemd's fd_cloexec(fd, true); EBADF when not open.

    ``os.set_inheritable`` does exactly this (FIOCLEX) without importing fcntl.
    """
    os.set_inheritable(fd, False)


def _unset(environ: Mapping[str, str] | None) -> None:
    """Remove the LISTEN_* variables: from os.environ (and so the C environment) or *environ*."""
    target: Mapping[str, str] = os.environ if environ is None else environ
    pop = getattr(target, "pop", None)  # a mutable mapping; a read-only one is left as is
    if callable(pop):
        for name in LISTEN_VARIABLES:
            pop(name, None)


def _listen(
    unset_environment: bool,
    environ: Mapping[str, str] | None,
    pid: int | None,
    *,
    with_names: bool,
) -> tuple[range, tuple[str, ...]]:
    """sd_listen_fds[_with_names]: parse, CLOEXEC each fd in order, unset on every path."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    try:
        passed = _parse(env, pid, with_names=with_names)
        for fd in passed.fds:
            try:
                _set_cloexec(fd)
            except OSError as exc:
                raise ActivationError(
                    f"fd {fd} from {LISTEN_FDS}={passed.count} is not open "
                    f"({os.strerror(exc.errno or errno.EBADF)})",
                    variable=LISTEN_FDS,
                    errno=exc.errno or errno.EBADF,
                ) from None
    finally:
        if unset_environment:
            _unset(environ)
    names = passed.fd_names() if with_names else ()
    return passed.fds, names


def listen_fds(
    unset_environment: bool = True,
    *,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
) -> list[int]:
    """The fds systemd passed, like ``systemd.daemon.listen_fds()``: ``[3, 4, ...]`` or ``[]``.

    Marks each fd close-on-exec in order (a closed one raises :class:`ActivationError` with
    ``errno=EBADF``; the ones before it stay marked). With *unset_environment* the LISTEN_*
    variables are removed from ``os.environ`` (or from *environ* when given and mutable) on
    every path, including errors and "not for us".
    """
    fds, _ = _listen(unset_environment, environ, pid, with_names=False)
    return list(fds)


def listen_fds_with_names(
    unset_environment: bool = True,
    *,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
) -> dict[int, str]:
    """``{fd: name}`` like ``systemd.daemon.listen_fds_with_names()``; names are ``unknown``
    without LISTEN_FDNAMES. Same CLOEXEC and unsetting as :func:`listen_fds`; a name count
    that differs from LISTEN_FDS raises (``EINVAL``) after the fds were marked.
    """
    fds, names = _listen(unset_environment, environ, pid, with_names=True)
    return dict(zip(fds, names, strict=True))


# Wrapped socket objects, one per fd, so asking twice never gives two owners of one fd.
_wrapped: dict[int, _Socket] = {}


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


@record
class SystemdActivation:
    """What the service manager passed to this process, read once.

    ``source`` is ``"systemd"`` (LISTEN_FDS), ``"inetd"`` (a socket on fd 0 and no LISTEN_*) or
    ``""`` (not activated). ``fds`` are in the order passed; ``notes`` explain anything
    ignored. ``remote_addr``/``remote_port`` are systemd's REMOTE_ADDR/REMOTE_PORT for an
    ``Accept=yes`` connection.
    """

    source: str
    fds: tuple[InheritedFd, ...]
    notes: tuple[str, ...] = ()
    remote_addr: str | None = None
    remote_port: int | None = None

    @property
    def activated(self) -> bool:
        """True when at least one socket was passed."""
        return any(entry.is_socket for entry in self.fds)

    @property
    def listeners(self) -> tuple[InheritedFd, ...]:
        """The passed sockets to serve on (listening stream sockets and datagram sockets)."""
        return tuple(entry for entry in self.fds if entry.is_listener)

    @property
    def connections(self) -> tuple[InheritedFd, ...]:
        """The passed connected sockets (``Accept=yes``, inetd ``Accept``)."""
        return tuple(entry for entry in self.fds if entry.is_connection)

    def named(self, name: str) -> tuple[InheritedFd, ...]:
        """The passed sockets named *name* in LISTEN_FDNAMES (several fds may share a name)."""
        return tuple(entry for entry in self.fds if entry.name == name and entry.is_socket)

    def of_kind(self, kind: str) -> tuple[InheritedFd, ...]:
        """The passed sockets of one kind: ``tcp``, ``udp``, ``unix-stream``, ..."""
        return tuple(entry for entry in self.fds if entry.kind == kind)


class _Cache:
    """The process-wide snapshot: raw variables as first read, answers per trust_pid1."""

    def __init__(self, pid: int, raw: dict[str, str]) -> None:
        self.pid = pid
        self.raw = raw
        self.results: dict[bool, SystemdActivation | ActivationError] = {}


_cache: _Cache | None = None


def _reset_cache() -> None:
    """Forget the snapshot and wrapped sockets (tests; the sockets are not closed)."""
    global _cache  # noqa: PLW0603 - the one process-wide snapshot
    _cache = None
    _wrapped.clear()


def _snapshot_environ() -> dict[str, str]:
    names = (*LISTEN_VARIABLES, REMOTE_ADDR, REMOTE_PORT)
    raw = {name: os.environ[name] for name in names if name in os.environ}
    _unset(None)
    return raw


def systemd_activation(*, trust_pid1: bool = False) -> SystemdActivation:
    """What systemd (or inetd) passed to this process; read once, then cached.

    The first call in a process copies LISTEN_*, REMOTE_ADDR and REMOTE_PORT, removes LISTEN_*
    from the environment, marks every passed fd close-on-exec and describes it. Later calls
    (any order, any filter) give the same fds; a forked child reads afresh. Malformed
    variables raise :class:`ActivationError` on every call. A name count that differs from
    LISTEN_FDS is not fatal here: the names are ignored (all ``unknown``) and noted.

    ``trust_pid1`` (opt-in, for containers): accept ``LISTEN_PID=1`` when this process is
    PID 2 under an init that did not rewrite it (tini, catatonit, ``podman --init``).
    """
    global _cache  # noqa: PLW0603 - the one process-wide snapshot
    pid = os.getpid()
    if _cache is None or _cache.pid != pid:
        _wrapped.clear()
        _cache = _Cache(pid, _snapshot_environ())
    result = _cache.results.get(trust_pid1)
    if result is None:
        try:
            result = _read_activation(_cache.raw, pid, trust_pid1=trust_pid1)
        except ActivationError as exc:
            result = exc
        _cache.results[trust_pid1] = result
    if isinstance(result, ActivationError):
        raise ActivationError(str(result), variable=result.variable, errno=result.errno)
    return result


def _open_file_limit(count: int) -> int:
    """The soft RLIMIT_NOFILE: no fd at or above it can be open, so none is examined there."""
    if count <= _FEW_FDS:  # skip the resource import on the start-up path
        return SD_LISTEN_FDS_START + count
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft > 0 else 1 << 20


def _read_activation(raw: Mapping[str, str], pid: int, *, trust_pid1: bool) -> SystemdActivation:
    remote_addr = raw.get(REMOTE_ADDR)
    port_text = raw.get(REMOTE_PORT, "")
    remote_port = int(port_text) if port_text.isdigit() else None
    passed = _parse(raw, pid, with_names=True, trust_pid1=trust_pid1)
    notes: list[str] = []
    if passed.count == 0:
        if LISTEN_FDS not in raw and "LISTEN_PID" not in raw:
            stdin = describe_fd(0)
            if isinstance(stdin, SocketInfo):
                notes.append(
                    "no LISTEN_* variables and fd 0 is a socket: inetd-style activation "
                    "(StandardInput=socket)"
                )
                entry = InheritedFd(0, INETD_NAME, stdin)
                return SystemdActivation("inetd", (entry,), tuple(notes), remote_addr, remote_port)
        notes.append(f"not activated: {passed.reason}")
        return SystemdActivation("", (), tuple(notes), remote_addr, remote_port)

    try:
        names = passed.fd_names()
    except ActivationError as exc:
        notes.append(f"{exc}; names ignored, every fd is 'unknown'")
        names = ("unknown",) * passed.count
    limit = _open_file_limit(passed.count)
    entries: list[InheritedFd] = []
    for fd, name in zip(passed.fds, names, strict=True):
        if fd >= limit:
            notes.append(
                f"{LISTEN_FDS}={passed.count} goes beyond the open-file limit {limit}; "
                f"fds from {fd} on were not examined"
            )
            break
        info = describe_fd(fd)
        if isinstance(info, SocketInfo):
            _set_cloexec(fd)
        elif info == "not open":
            notes.append(f"fd {fd} ({name!r}) is not open — did an entrypoint script close it?")
        else:
            _set_cloexec(fd)
            notes.append(f"fd {fd} ({name!r}) is {info}, not a socket; ignored")
        entries.append(InheritedFd(fd, name, info))
    return SystemdActivation("systemd", tuple(entries), tuple(notes), remote_addr, remote_port)
