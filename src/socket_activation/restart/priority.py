"""A starting generation yields the CPU to the serving one: nice while it starts, then restored.

On a machine with few cores, a new generation's start-up (interpreter, imports, app set-up)
competes for the CPU with the generation that serves; requests served meanwhile wait. While a
generation starts, :func:`lower` raises the nice value of all its threads and descendants;
once it is ready, :func:`restore` puts back the value it started with.

Restoring means lowering a nice value, which Linux allows only with ``CAP_SYS_NICE`` (root) or
an ``RLIMIT_NICE`` high enough (setpriority(2)); :func:`can_restore` checks that first, and the
caller does nothing when it cannot: a generation left niced would serve at low priority.
Threads have their own nice value on Linux, so every task of every process is set, and those
it creates later inherit from their creator.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

__all__ = ["can_restore", "lower", "restore", "tree"]


def can_restore(increment: int) -> bool:
    """True when this process may put a child niced by *increment* back to its own value."""
    if increment <= 0:
        return False
    if os.geteuid() == 0:
        return True
    current = os.getpriority(os.PRIO_PROCESS, 0)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)
    # setpriority(2): an unprivileged process may set nice n when 20 - n <= RLIMIT_NICE
    return soft == resource.RLIM_INFINITY or 20 - current <= soft


def tree(pid: int) -> list[int]:
    """Every task (thread) id of *pid* and of its descendants, as /proc shows them now."""
    tasks: list[int] = []
    todo = [pid]
    while todo:
        proc = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{proc}/task").iterdir():
                tasks.append(int(task.name))
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in (task / "children").read_text().split())
    return tasks


def _set(pid: int, value: int) -> None:
    for task in tree(pid):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours
            os.setpriority(os.PRIO_PROCESS, task, value)


def lower(pid: int, increment: int) -> int:
    """Nice every task of *pid* (and descendants) by *increment*; returns the value to restore."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    _set(pid, min(19, base + increment))
    return base


def restore(pid: int, value: int) -> None:
    """Put every task of *pid* (and descendants) back to nice *value*."""
    _set(pid, value)
