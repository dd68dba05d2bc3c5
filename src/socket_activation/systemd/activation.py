"""The activation snapshot: what systemd (or inetd) passed to this process, read once, cached.

:func:`systemd_activation` reads the environment once per process, caches the answer (keyed by
pid, so a forked child reads again) and describes every passed fd as the kernel sees it, with
notes on anything ignored. It also recognises inetd-style activation (a socket on fd 0, no
LISTEN_* variables).

The parts it is made of live apart: the pure LISTEN_* rules in :mod:`.environ`, "are they ours"
and the ``systemd.daemon``-compatible :func:`listen_fds` / :func:`listen_fds_with_names` in
:mod:`.listen_fds`, the fd edge (:class:`InheritedFd`) in :mod:`.inherited`. Those names are
re-exported here, where callers import them.

This module is on the activated start-up path: it imports nothing heavy (no pydantic, no
asyncio).
"""

from __future__ import annotations

import os

from .._errors import ActivationError
from .._record import record
from ..net.sockinfo import SocketInfo, describe_fd
from .environ import LISTEN_FDS, LISTEN_VARIABLES, SD_LISTEN_FDS_START
from .inherited import InheritedFd, examine_fds

# the registry _reset_cache clears, re-exported (explicitly, for mypy) where tests look for it
from .inherited import _wrapped as _wrapped  # noqa: PLC0414
from .listen_fds import (
    listen_fds,
    listen_fds_with_names,
    own_pidfd_inode_id,
    read_listen_env,
    unset_listen_env,
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
    "own_pidfd_inode_id",
    "systemd_activation",
]

REMOTE_ADDR = "REMOTE_ADDR"
REMOTE_PORT = "REMOTE_PORT"
# Name given to an inetd-style socket on stdin (StandardInput=socket, --inetd).
INETD_NAME = "stdin"


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
    unset_listen_env(None)
    return raw


def systemd_activation(*, trust_pid1: bool = False) -> SystemdActivation:
    """What systemd (or inetd) passed to this process; read once, then cached.

    The first call in a process copies LISTEN_*, REMOTE_ADDR and REMOTE_PORT, removes LISTEN_*
    from the environment, marks every passed fd close-on-exec and describes it. Later calls
    (any order, any filter) give the same fds; a forked child reads afresh. Malformed
    variables raise :class:`ActivationError` on every call. A name count that differs from
    LISTEN_FDS is not fatal here: the names are ignored (all ``unknown``) and noted.

    ``trust_pid1`` (opt-in, for containers): accept ``LISTEN_PID=1`` when this process's
    parent is PID 1: a container init that did not rewrite it (tini does not; catatonit, which is
    ``podman run --init``, does, so needs no opt-in).
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


def _read_activation(raw: Mapping[str, str], pid: int, *, trust_pid1: bool) -> SystemdActivation:
    remote_addr = raw.get(REMOTE_ADDR)
    port_text = raw.get(REMOTE_PORT, "")
    remote_port = int(port_text) if port_text.isdigit() else None
    passed = read_listen_env(raw, pid, with_names=True, trust_pid1=trust_pid1)
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
    entries, fd_notes = examine_fds(passed.fds, names)
    return SystemdActivation("systemd", entries, (*notes, *fd_notes), remote_addr, remote_port)
