"""The tasks (threads) of a process, as /proc shows them now: what priority and affinity set.

Linux keeps a scheduling policy, nice value and CPU affinity per thread, so changing a
process's means changing every thread's; those it creates later inherit from their creator.
That leaves a race: a thread that one not yet changed creates while :func:`each` walks the
list inherits the old setting, and no listing taken before it existed can see it. A new
generation creates its threads right after ``READY=1``, exactly when it is put back, so
:func:`each` lists again until a listing shows no task it has not done.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["each", "threads", "tree"]

# listings after the first: a thread can only be missed if a thread not yet done created it
_ROUNDS = 8


def threads(pid: int) -> list[int]:
    """Every task id of *pid* itself (not its children); ``[]`` when it is gone or unreadable."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """Every task (thread) id of *pid* and of its descendants, as /proc shows them now.

    Plain ``os`` calls, not :mod:`pathlib`: the handoff walks its new process from a thread of
    the serving process, whose other threads wait for the GIL while this runs Python.
    """
    tasks: list[int] = []
    todo = [pid]
    while todo:
        proc = todo.pop()
        for task in threads(proc):
            tasks.append(task)
            todo.extend(_children(proc, task))
    return tasks


def _children(pid: int, task: int) -> list[int]:
    try:
        fd = os.open(f"/proc/{pid}/task/{task}/children", os.O_RDONLY)
    except OSError:
        return []
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    return [int(child) for child in b"".join(chunks).split()]


def each(pid: int, change: Callable[[int], None], *, children: bool = True) -> bool:
    """Call *change* on every task of *pid* (with *children*: of its descendants too), listing
    again until no new task shows up; True when there was any. *change* may raise OSError
    (the task is gone meanwhile, or not ours): that task is skipped."""
    done: set[int] = set()
    changed = False
    for _ in range(_ROUNDS):
        new = [t for t in (tree(pid) if children else threads(pid)) if t not in done]
        if not new:
            break
        for task in new:
            done.add(task)
            try:
                change(task)
            except OSError:
                continue
            changed = True
    return changed
