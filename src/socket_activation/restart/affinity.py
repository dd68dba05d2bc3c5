"""Spare CPUs: a generation that does not serve runs on CPUs the serving one does not use.

``SCHED_IDLE`` keeps a start-up from taking a CPU that the serving generation wants, but on a
machine with few CPUs it still costs. Measured on 2 vCPUs (Linux 6.18, ``benchmarks/restart.py``):
a start-up at ``SCHED_IDLE`` beside a loaded server raised its p99 1.6-1.8x while it ran, and a
``SCHED_IDLE`` busy loop raised the steady p99 from 2.0 to 5.0 ms. The serving threads then
queue behind each other on one CPU while the other runs the idle task. The same busy loop, even
at nice 0, cost nothing (p99 1.6 against 1.6 ms) on a CPU that the server and its clients did
not use.

So a service can keep some CPUs *spare*. It runs on the others (systemd's ``CPUAffinity=``,
``taskset``) and gives those CPUs to ``supervise --spare-cpus`` or ``Upgrader(spare_cpus=)``:

- a starting generation runs only on the spare CPUs until its ``READY=1``, then gets back the
  affinity of whoever started it (:meth:`~.priority.StartPriority.lower` and
  :meth:`~.priority.Lowered.restore`);
- the generation it replaces is moved onto them for its drain and its exit (:func:`move`);
- ``supervise`` itself runs on them: its part of a restart (the spawn, the ``READY=1``
  bookkeeping, reaping the old generation) took 12-20 ms of CPU per restart, which on the
  serving CPU cost 2-3% of its time at a restart every 1.2 s.

Affinity needs no privilege for one's own processes. A CPU that the kernel does not let us use
(offline, outside the cgroup's cpuset) is an error when the option is read, not at the first
restart.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from .tasks import each

__all__ = ["move", "parse_cpus", "usable_cpus"]


def usable_cpus() -> frozenset[int]:
    """The CPUs this process may be moved to: its cgroup's cpuset, else every online CPU."""
    for path in ("/sys/fs/cgroup/cpuset.cpus.effective", "/sys/devices/system/cpu/online"):
        with contextlib.suppress(OSError, ValueError):
            return _cpu_list(Path(path).read_text().strip(), path)
    return frozenset(os.sched_getaffinity(0))


def parse_cpus(text: str) -> frozenset[int]:
    """A CPU list as ``taskset -c`` and systemd take it (``1``, ``2-3``, ``0,4-5``).

    ValueError naming *text* when it is not one, or names a CPU not in :func:`usable_cpus`.
    """
    cpus = _cpu_list(text, "spare CPUs")
    missing = sorted(cpus - usable_cpus())
    if missing:
        have = ",".join(str(c) for c in sorted(usable_cpus()))
        raise ValueError(
            f"spare CPUs {text!r}: CPU {', '.join(map(str, missing))} cannot be used here "
            f"(usable: {have})"
        )
    return cpus


def _cpu_list(text: str, what: str) -> frozenset[int]:
    cpus: set[int] = set()
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low, high = int(first), int(last if dash else first)
        except ValueError:
            raise ValueError(f"{what} {text!r}: {part!r} is not a CPU number or range") from None
        if low < 0 or high < low:
            raise ValueError(f"{what} {text!r}: {part!r} is not a CPU range")
        cpus.update(range(low, high + 1))
    if not cpus:
        raise ValueError(f"{what} {text!r}: no CPU named")
    return frozenset(cpus)


def move(pid: int, cpus: Iterable[int], *, children: bool = True) -> bool:
    """Set the affinity of every thread of *pid* (and, with *children*, of its descendants).

    Returns False when no task could be moved (gone, or not ours). Without *children*: for a
    process whose child must stay where it is (after a handoff the new generation is the old
    one's child, and it serves).
    """
    mask = set(cpus)
    return each(pid, lambda task: os.sched_setaffinity(task, mask), children=children)
