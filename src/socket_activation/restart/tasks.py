"""The tasks (threads) of a process, as /proc shows them now: what priority and affinity set.

Linux keeps a scheduling policy, nice value and CPU affinity per thread, so changing a
process's means changing every thread's; those it creates later inherit from their creator.
That leaves a race: a thread that one not yet changed creates while :func:`each` walks the
list inherits the old setting, and no listing taken before it existed can see it. A new
generation creates its threads right after ``READY=1``, exactly when it is put back, so
:func:`each` lists again until a listing shows no task it has not done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

__all__ = ["each", "threads", "tree"]

# listings after the first: a thread can only be missed if a thread not yet done created it
_ROUNDS = 8


def threads(pid: int) -> list[int]:
    """Every task id of *pid* itself (not its children); ``[]`` when it is gone or unreadable."""
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


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
