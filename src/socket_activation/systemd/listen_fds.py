"""sd_listen_fds(3) for this process: are the LISTEN_* variables ours, CLOEXEC, unset.

:func:`listen_fds` and :func:`listen_fds_with_names` give exactly what ``systemd.daemon``'s
functions of the same names give (same shapes, same errors as :class:`ActivationError` with
libsystemd's errno), but also remove the variables from ``os.environ``, so a child started later
does not inherit a stale ``LISTEN_FDS``. "Ours" means LISTEN_PID is our pid and, where the kernel
can tell (pidfs), LISTEN_PIDFDID is our pidfd's inode id; the pure rules are in
:mod:`.environ`.

On the activated start-up path: ctypes is imported only when LISTEN_PIDFDID is set.
"""

from __future__ import annotations

import errno
import os

from .._errors import ActivationError
from .environ import LISTEN_FDS, LISTEN_PIDFDID, LISTEN_VARIABLES, ListenEnv, parse_listen_env
from .inherited import set_cloexec

TYPE_CHECKING = False  # typing/collections cost milliseconds; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "listen_fds",
    "listen_fds_with_names",
    "own_pidfd_inode_id",
    "read_listen_env",
    "unset_listen_env",
]

# Linux statfs f_type of pidfs (kernel >= 6.9): only there is a pidfd's inode a unique id.
_PID_FS_MAGIC = 0x50494446


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


def read_listen_env(
    environ: Mapping[str, str], pid: int | None, *, with_names: bool, trust_pid1: bool = False
) -> ListenEnv:
    """:func:`.environ.parse_listen_env` for *pid* (default: us), with our pidfd id and parent
    pid when *pid* is us."""
    own_pid = os.getpid()
    ppid = os.getppid() if pid in (None, own_pid) else None
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
        ppid=ppid,
    )


def unset_listen_env(environ: Mapping[str, str] | None) -> None:
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
        passed = read_listen_env(env, pid, with_names=with_names)
        for fd in passed.fds:
            try:
                set_cloexec(fd)
            except OSError as exc:
                raise ActivationError(
                    f"fd {fd} from {LISTEN_FDS}={passed.count} is not open "
                    f"({os.strerror(exc.errno or errno.EBADF)})",
                    variable=LISTEN_FDS,
                    errno=exc.errno or errno.EBADF,
                ) from None
    finally:
        if unset_environment:
            unset_listen_env(environ)
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
