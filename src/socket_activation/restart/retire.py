"""A generation that has handed over exits at ``SCHED_IDLE``, so its exit waits for idle CPUs.

After a handoff the old process still has its exit to do: the interpreter's finalization and
the kernel's teardown of its memory. That is CPU work at normal priority, at the moment the new
generation takes the full load. ``benchmarks/restart_sched.py`` showed what it costs (Linux
6.18, 2 vCPUs, 20 handoffs under load): the old process's main thread, 0-8 ms after its last
answer, held a CPU for 2-5 ms while a request thread that was ready to run waited for it, 26
times. A task that wakes up preempts a ``SCHED_IDLE`` one at once.

:func:`retire` moves every thread of a process to ``SCHED_IDLE``, and not its children: after
a handoff the new generation is this process's child, and it serves. Only for a process whose
work is done, since an idle task gets no CPU while others want it.
Lowering needs no privilege. :func:`retire_at_exit` does it for this process when the
interpreter begins to exit (``atexit``): the handoff arms it once an upgrade succeeded, by which
time the server returns from its serve loop only after its last request.
"""

from __future__ import annotations

import atexit
import os
import threading

from .tasks import threads

__all__ = ["retire", "retire_at_exit"]

_armed = threading.Event()


def retire(pid: int | None = None) -> bool:
    """Move every thread of *pid* (default: this process), not its children, to ``SCHED_IDLE``.

    Returns False where there is no ``SCHED_IDLE`` (not Linux) or no task could be moved.
    """
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:
        return False
    moved = False
    for task in threads(pid or os.getpid()):  # [] when gone, or no /proc
        try:
            os.sched_setscheduler(task, policy, os.sched_param(0))
        except OSError:  # gone meanwhile, or not ours
            continue
        moved = True
    return moved


def retire_at_exit() -> None:
    """Retire this process when the interpreter starts to exit; arming it again does nothing."""
    if not _armed.is_set():
        _armed.set()
        atexit.register(retire)
