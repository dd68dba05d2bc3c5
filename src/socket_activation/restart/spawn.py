"""Start a program with sockets the way systemd does: at fds 3.., with ``LISTEN_*`` set.

Two ways, sharing one environment builder:

- :func:`exec_with_sockets` replaces this process (``socket-activation exec``, entrypoints);
- :func:`spawn_with_sockets` starts a child (``supervise``, the in-process handoff). The
  child's ``LISTEN_PID`` must be *its* pid, known only after fork: the child is started through
  ``/bin/sh -c 'LISTEN_PID=$$ exec ...'`` with ``posix_spawn``, which is thread-safe, where a
  Python ``fork()`` in a threaded server is not.

fds are renumbered without clobbering: every source is first duplicated above the target range
(close-on-exec), then ``dup2`` places the copies at 3, 4, ... (``dup2`` clears close-on-exec on
the target). Nothing else leaks into the child: every other fd this library opens is
close-on-exec.
"""

from __future__ import annotations

import fcntl
import os

TYPE_CHECKING = False  # typing/collections cost milliseconds; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

__all__ = [
    "LISTEN_VARIABLES",
    "SD_LISTEN_FDS_START",
    "exec_with_sockets",
    "listen_environment",
    "spawn_with_sockets",
]

SD_LISTEN_FDS_START = 3
# Every variable of the activation protocol, old and new; children get a fresh set.
LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID")
# The shell shim: $$ is the pid the exec'd program will have (exec keeps the pid).
_SHIM = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'


def listen_environment(
    base: Mapping[str, str],
    names: Sequence[str],
    *,
    pid: int | None = None,
    notify_socket: str | None = None,
) -> dict[str, str]:
    """*base* with the ``LISTEN_*`` variables for ``len(names)`` fds from 3.

    With no fds the variables are removed (systemd sets them only when n > 0, R57). ``pid``
    sets ``LISTEN_PID`` (omit it when the spawner sets it after fork). ``notify_socket``
    replaces ``NOTIFY_SOCKET`` (``""`` removes it).
    """
    env = {k: v for k, v in base.items() if k not in LISTEN_VARIABLES}
    if names:
        env["LISTEN_FDS"] = str(len(names))
        env["LISTEN_FDNAMES"] = ":".join(names)
        if pid is not None:
            env["LISTEN_PID"] = str(pid)
    if notify_socket is not None:
        env.pop("NOTIFY_SOCKET", None)
        if notify_socket:
            env["NOTIFY_SOCKET"] = notify_socket
    return env


def _lift(fds: Sequence[int], floor: int) -> list[int]:
    """Close-on-exec duplicates of *fds*, all numbered >= *floor*."""
    lifted: list[int] = []
    try:
        for fd in fds:
            lifted.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor))
    except BaseException:
        for fd in lifted:
            os.close(fd)
        raise
    return lifted


def exec_with_sockets(
    argv: Sequence[str], fds: Sequence[int], names: Sequence[str], env: Mapping[str, str]
) -> None:
    """Replace this process with *argv*, *fds* at 3.., ``LISTEN_*`` naming them.

    Does not return on success. On failure (program not found) the fds at 3.. have been
    rearranged; the caller should exit.
    """
    if len(fds) != len(names):
        raise ValueError(f"{len(fds)} fds but {len(names)} names")
    floor = SD_LISTEN_FDS_START + len(fds)
    lifted = _lift(fds, floor)
    for index, fd in enumerate(lifted):
        os.dup2(fd, SD_LISTEN_FDS_START + index)  # the new fd is inheritable
    for fd in lifted:
        os.close(fd)
    child_env = listen_environment(env, names, pid=os.getpid())
    os.execvpe(argv[0], list(argv), child_env)


def spawn_with_sockets(
    argv: Sequence[str],
    fds: Sequence[int],
    names: Sequence[str],
    env: Mapping[str, str],
    *,
    keep_fds: Sequence[int] = (),
    setsid: bool = False,
    process_group: bool = False,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    sigmask: Iterable[int] | None = None,
    release_gil: bool = False,
    sched_idle: bool = False,
) -> int:
    """Start *argv* as a child with *fds* at 3.. and its own ``LISTEN_PID``; returns its pid.

    ``keep_fds`` are passed at their own numbers (above the listening range), e.g. a pipe.
    ``stdin``/``stdout``/``stderr`` are fds that become the child's fd 0 / 1 / 2 (a log
    file), else it shares ours. ``process_group`` makes the child the leader of a new process
    group in our session, ``setsid`` of a new session. ``sigmask`` is the child's signal mask
    (default: ours; the early start passes the mask it had before blocking signals). The caller
    reaps the child.

    ``release_gil`` lets the other threads of this process run while the child starts
    (:mod:`.spawn_nogil`; the handoff spawns from the process that serves), with the same fds
    and environment; only without ``setsid``, ``process_group`` and ``sigmask``. With it,
    ``sched_idle`` asks for the child to be born at ``SCHED_IDLE`` where libc allows it
    (:func:`.spawn_nogil.spawnp`; the caller checks with ``os.sched_getscheduler``).
    """
    if release_gil and (setsid or process_group or sigmask is not None):
        raise ValueError("release_gil does not take setsid, process_group or sigmask")
    if len(fds) != len(names):
        raise ValueError(f"{len(fds)} fds but {len(names)} names")
    if not argv:
        raise ValueError("no program to start")
    floor = max([SD_LISTEN_FDS_START + len(fds), *(k + 1 for k in keep_fds)])
    lifted = _lift(fds, floor)
    try:
        # stdio first, from lifted copies: a log fd numbered 3.. is not yet overwritten
        stdio = [
            (fd, target) for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)) if fd is not None
        ]
        stdio_lifted = _lift([fd for fd, _ in stdio], floor + len(lifted))
        lifted.extend(stdio_lifted)
        actions: list[tuple[int, ...]] = [
            (os.POSIX_SPAWN_DUP2, copy, target)
            for copy, (_, target) in zip(stdio_lifted, stdio, strict=True)
        ]
        actions.extend(
            (os.POSIX_SPAWN_DUP2, fd, SD_LISTEN_FDS_START + index)
            for index, fd in enumerate(lifted[: len(fds)])
        )
        # dup2 onto itself is a no-op that leaves CLOEXEC set; clear it via a same-number dup2
        # from a lifted copy instead.
        keep_lifted = _lift(keep_fds, floor + len(lifted))
        lifted.extend(keep_lifted)
        actions.extend(
            (os.POSIX_SPAWN_DUP2, copy, target)
            for copy, target in zip(keep_lifted, keep_fds, strict=True)
        )
        child_env = listen_environment(env, names)
        program = ["/bin/sh", "-c", _SHIM, *argv] if names else list(argv)
        group = process_group and not setsid
        options: dict[str, Any] = {"setpgroup": 0} if group else {"setsid": setsid}
        if sigmask is not None:  # passing () would set an empty mask: only when asked
            options["setsigmask"] = sigmask
        if release_gil:
            from . import spawn_nogil

            if spawn_nogil.prepare():
                dup2s = [(a[1], a[2]) for a in actions]
                return spawn_nogil.spawnp(program, child_env, dup2s, idle=sched_idle)
        return os.posix_spawnp(program[0], program, child_env, file_actions=actions, **options)
    finally:
        for fd in lifted:
            os.close(fd)
