"""The new process of an in-process upgrade: start it on our sockets and wait for ``READY=1``.

:func:`start_successor` opens a private
:class:`~socket_activation.restart.readiness.ReadinessSocket`, starts the new process with the
listening sockets at fds 3.. and ``NOTIFY_SOCKET`` naming that socket, runs it at the lower
*start_priority* until its ``READY=1`` (:mod:`~socket_activation.restart.priority`; still at
``SCHED_IDLE`` after ``IDLE_LIMIT`` s, it is moved to ``nice``), and returns its
pid and ready notification. If it cannot start, exits, or stays silent past the timeout, it is
stopped and reaped (:func:`stop`) and :class:`~socket_activation._errors.HandoffError` says
why. What the service manager is told around it is :mod:`~socket_activation.restart.handoff`'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence

from .._errors import HandoffError
from ..systemd.notify import NOTIFY_SOCKET
from .notification import Notification
from .priority import IDLE_LIMIT, StartPriority
from .readiness import ReadinessSocket
from .readiness_wait import ChildExitedError, ReadyTimeoutError
from .spawn import spawn_with_sockets

__all__ = ["start_successor", "stop", "why"]

# How long a failed child gets to exit after SIGTERM before SIGKILL.
_KILL_GRACE = 1.0


def start_successor(
    argv: Sequence[str],
    sockets: Sequence[socket.socket],
    names: Sequence[str],
    environ: Mapping[str, str],
    *,
    ready_timeout: float,
    start_priority: StartPriority,
    on_spawn: Callable[[int], None],
    placed: bool,
) -> tuple[int, Notification]:
    """Start *argv* with *environ* plus our ``NOTIFY_SOCKET``; wait for its ``READY=1``.

    *on_spawn* is called with the new pid as soon as it exists. *placed*: the calling thread
    runs inside ``start_priority.spawning()`` and was moved to the spare CPUs, so the child is
    born there (the caller's block holds until the child is ready: the serving threads keep
    the serving CPUs to themselves meanwhile). See the module docstring.
    """
    with ReadinessSocket() as readiness:
        env = dict(environ)
        env[NOTIFY_SOCKET] = readiness.address
        try:
            # from the serving process: its other threads keep answering while the child starts
            fds = [s.fileno() for s in sockets]
            # born at SCHED_IDLE (idle mode): it never runs beside this thread, which takes
            # the GIL back from the serving threads, at the same priority (spawn_nogil.py)
            idle = start_priority.mode == "idle"
            pid = spawn_with_sockets(argv, fds, names, env, release_gil=True, sched_idle=idle)
        except OSError as exc:
            raise HandoffError(f"cannot start {argv[0]!r}: {exc}") from exc
        on_spawn(pid)
        classed = idle and start_priority.born_in_class(pid)
        lowered = start_priority.lower(pid, at_birth=placed, born_lowered=classed)
        after = None if lowered is None or not lowered.idle else (IDLE_LIMIT, lowered.escalate)
        try:
            note = readiness.wait_ready(pid, ready_timeout, after=after)
            if lowered is not None:
                lowered.restore()
        except ChildExitedError as exc:
            raise HandoffError(why(exc.args[0], exc.last_status)) from None
        except ReadyTimeoutError as exc:
            how = stop(pid)
            message = f"{exc.args[0]}; {how}"
            raise HandoffError(why(message, exc.last_status)) from None
        except BaseException:
            stop(pid)
            raise
    return pid, note


def why(message: str, last_status: str | None) -> str:
    """The text of a failed upgrade's :class:`~socket_activation._errors.HandoffError`."""
    text = f"upgrade failed: new {message}; this process keeps serving"
    if last_status:
        text += f" (its last STATUS= was {last_status!r})"
    return text


def stop(pid: int) -> str:
    """SIGTERM, then SIGKILL after a grace period; reap. Says what it took."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE
    while time.monotonic() < deadline:
        try:
            reaped, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "it was stopped"
        if reaped == pid:
            return "it was stopped with SIGTERM"
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    return "it was killed with SIGKILL"
