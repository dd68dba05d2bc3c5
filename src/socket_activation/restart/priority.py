"""A starting generation yields the CPU to the serving one until it is ready, then gets it back.

On a machine with few cores, a new generation's start-up (interpreter, imports, app set-up)
competes for the CPU with the generation that serves; requests served meanwhile wait. While a
generation starts, :meth:`StartPriority.lower` moves every thread and child of it to a lower
class; once it is ready, :meth:`Lowered.restore` puts back what it had. Three modes:

- ``idle`` (the default on Linux): ``SCHED_IDLE``, which runs only on a CPU no other task wants.
  Measured on Linux 6.18 (EEVDF scheduler, 2 vCPUs, ``benchmarks/restart.py``): with nice 10
  or 19 a starting interpreter still took whole time slices from the serving process (p99
  during the first 50 ms of a restart 7.3 ms against 1.5 ms steady; the same as nice 0), with
  ``SCHED_IDLE`` 3.4 ms: a task of any other class that wakes up preempts an idle one at once.
  The price is starvation: on CPUs kept busy, an idle task never runs. A generation still
  starting :data:`IDLE_LIMIT` seconds later is moved to ``nice`` (:meth:`Lowered.escalate`),
  which the scheduler always gives a share.
- ``nice``: *nice* levels lower (``SCHED_OTHER``), every task.
- ``normal``: nothing is changed.

Putting a task back from ``SCHED_IDLE`` or to a lower nice value needs ``CAP_SYS_NICE`` (root)
or an ``RLIMIT_NICE`` that covers the value (sched(7), setpriority(2)): :meth:`StartPriority.
unavailable` says why it cannot, and the caller then starts generations at normal priority, as
a generation left lowered would serve at low priority. Threads have their own policy and nice
value on Linux, so every task of every process is set, and those it creates later inherit
from their creator.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from . import affinity
from .tasks import each, tree

__all__ = [
    "DEFAULT_NICE",
    "IDLE_LIMIT",
    "MODES",
    "Lowered",
    "StartPriority",
    "can_restore",
    "lower",
    "restore",
    "tree",
]

MODES = ("idle", "nice", "normal")
DEFAULT_NICE = 10
# How long a generation may start at SCHED_IDLE before it is moved to "nice" (starvation guard).
IDLE_LIMIT = 5.0
_NO_RESTORE = "restoring the priority needs CAP_SYS_NICE or RLIMIT_NICE (LimitNICE=)"


def can_restore(increment: int, *, nice: int | None = None) -> bool:
    """True when this process may put a task lowered by *increment* back to *nice* (default:
    the calling thread's own value).

    The rule is the kernel's ``can_nice()``: a nice value *n* may be set (and a task taken out
    of ``SCHED_IDLE`` at *n*) when ``20 - n <= RLIMIT_NICE``, or with ``CAP_SYS_NICE``.
    """
    if increment <= 0:
        return False
    if os.geteuid() == 0:
        return True
    import resource

    current = os.getpriority(os.PRIO_PROCESS, 0) if nice is None else nice
    soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)
    return soft == resource.RLIM_INFINITY or 20 - current <= soft


def _set(pid: int, value: int) -> None:
    each(pid, lambda task: os.setpriority(os.PRIO_PROCESS, task, value))


def _set_policy(pid: int, policy: int) -> None:
    param = os.sched_param(0)
    each(pid, lambda task: os.sched_setscheduler(task, policy, param))


def _apply(pid: int, *, mask: frozenset[int] | None, policy: int | None, nice: int | None) -> None:
    """Affinity, then class, then nice value, on every task in one walk (:func:`~.tasks.each`):
    each listing and each file it reads lets the GIL go and take it back, and in the handoff the
    serving threads of this process wait for every such turn."""
    if mask is None and policy is None and nice is None:
        return
    param = os.sched_param(0)

    def change(task: int) -> None:
        if mask is not None:
            os.sched_setaffinity(task, mask)
        if policy is not None:
            os.sched_setscheduler(task, policy, param)
        if nice is not None:
            os.setpriority(os.PRIO_PROCESS, task, nice)

    each(pid, change)


def lower(pid: int, increment: int) -> int:
    """Nice every task of *pid* (and descendants) by *increment*; returns the value to restore."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    _set(pid, min(19, base + increment))
    return base


def restore(pid: int, value: int) -> None:
    """Put every task of *pid* (and descendants) back to nice *value*."""
    _set(pid, value)


class Lowered:
    """A generation started lowered: :meth:`escalate` (idle to nice), :meth:`restore` once ready."""

    __slots__ = ("base", "idle", "mask", "nice", "pid")

    def __init__(
        self,
        pid: int,
        *,
        idle: bool,
        nice: int,
        base: int,
        mask: frozenset[int] | None = None,
    ) -> None:
        self.pid = pid
        self.idle = idle  # True while at SCHED_IDLE
        self.nice = nice  # the increment "nice" mode uses (escalate)
        self.base = base  # the nice value to restore: the caller's own
        self.mask = mask  # the CPU affinity to restore (the caller's), when moved to spare CPUs

    def escalate(self) -> bool:
        """Move a generation still at ``SCHED_IDLE`` to ``nice``; True when it was idle."""
        if not self.idle:
            return False
        self.idle = False
        if self.nice > 0:
            _set(self.pid, min(19, self.base + self.nice))
        _set_policy(self.pid, os.SCHED_OTHER)
        return True

    def restore(self) -> None:
        """Back to the caller's own class, nice value and CPU affinity, every task."""
        policy = os.SCHED_OTHER if self.idle else None
        self.idle = False
        _apply(self.pid, mask=self.mask, policy=policy, nice=self.base if self.nice > 0 else None)


class StartPriority:
    """How a generation that starts while another serves is run: see the module docstring.

    *mode* is ``idle``, ``nice`` or ``normal``; *nice* the levels ``nice`` lowers by (also what
    ``idle`` escalates to); ``nice=0`` turns lowering off in any mode. ValueError otherwise.
    *spare_cpus* (:mod:`~socket_activation.restart.affinity`): a generation that starts runs
    only on these CPUs until it is ready, in any mode, and :meth:`set_aside` moves the one it
    replaces onto them. *home*: the CPUs a ready generation serves on, for a caller that itself
    runs elsewhere (supervise, on the spare CPUs); None: the caller process's own affinity.
    """

    __slots__ = ("home", "mode", "nice", "spare_cpus")

    def __init__(
        self,
        mode: str = "idle",
        nice: int = DEFAULT_NICE,
        *,
        spare_cpus: frozenset[int] | None = None,
        home: frozenset[int] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"start priority must be one of {', '.join(MODES)}, got {mode!r}")
        if not 0 <= nice <= 19:
            raise ValueError(f"start nice must be 0..19, got {nice!r}")
        if spare_cpus is not None and not spare_cpus:
            raise ValueError("spare CPUs: the set is empty")
        self.mode = "normal" if nice == 0 else mode  # 0 turns lowering off, as it always did
        self.nice = nice
        self.spare_cpus = spare_cpus
        self.home = home

    def __repr__(self) -> str:
        spare = f", spare_cpus={sorted(self.spare_cpus)}" if self.spare_cpus else ""
        return f"StartPriority({self.mode!r}, nice={self.nice}{spare})"

    def without_priority(self) -> StartPriority:
        """The same spare CPUs at normal priority: for when :meth:`unavailable` says why not."""
        return StartPriority("normal", spare_cpus=self.spare_cpus, home=self.home)

    def homed(self) -> StartPriority:
        """With spare CPUs and no *home*: the same, its home the process's CPUs now (its main
        thread's). Read before :meth:`spawning` moves the calling thread, which may be the
        main thread: :meth:`lower` would read the spare CPUs as home then."""
        if not self.spare_cpus or self.home is not None:
            return self
        home = frozenset(os.sched_getaffinity(os.getpid()))
        return StartPriority(self.mode, self.nice, spare_cpus=self.spare_cpus, home=home)

    def unavailable(self) -> str | None:
        """Why this mode cannot be used by this process (then start at normal priority)."""
        if self.mode == "normal":
            return None
        if self.mode == "idle" and not hasattr(os, "SCHED_IDLE"):
            return "SCHED_IDLE is Linux only"
        if not can_restore(max(1, self.nice)):
            return _NO_RESTORE
        return None

    def lower(
        self, pid: int, *, at_birth: bool = False, born_lowered: bool = False
    ) -> Lowered | None:
        """Lower every task of *pid* (and descendants), and move them to the spare CPUs;
        None in ``normal`` mode without spare CPUs.

        *at_birth*: *pid* was spawned inside a :meth:`spawning` block that placed it on the
        spare CPUs: its affinity is not set again. *born_lowered*: it was spawned inside a
        :meth:`born` block that gave it the start class: that is not set again either. With
        both nothing walks its tasks: one born with no thread but the one it was spawned as.
        """
        if self.mode == "normal" and not self.spare_cpus:
            return None
        base = os.getpriority(os.PRIO_PROCESS, 0)
        mask = None
        if self.spare_cpus:
            # the process's own (its main thread's): a calling thread's may differ
            mask = self.home or frozenset(os.sched_getaffinity(os.getpid()))
        idle, nice = self.mode == "idle", self.nice if self.mode == "nice" else 0
        _apply(
            pid,
            mask=None if at_birth else self.spare_cpus,
            policy=os.SCHED_IDLE if idle and not born_lowered else None,
            nice=min(19, base + nice) if nice and not born_lowered else None,
        )
        return Lowered(pid, idle=idle, nice=self.nice if idle else nice, base=base, mask=mask)

    def born_in_class(self, pid: int) -> bool:
        """True when *pid* already runs in the start class (``idle`` mode: at ``SCHED_IDLE``,
        as a spawn can give it from birth): :meth:`lower` need not set it."""
        if self.mode != "idle":
            return False
        try:
            return os.sched_getscheduler(pid) == os.SCHED_IDLE
        except OSError:
            return False

    def born(self) -> contextlib.AbstractContextManager[bool]:
        """Around a spawn call that keeps the GIL (``os.posix_spawnp``: supervise): the calling
        thread takes the start class meanwhile (``SCHED_IDLE``, or *nice* levels lower), so the
        child is born in it and never starts at normal priority; the thread gets its own back
        as soon as the call returns. Gives False when nothing was changed (``normal`` mode, a
        thread not at ``SCHED_OTHER``, or one whose class this process could not put back);
        then :meth:`lower` lowers the child after its birth.

        Not for a spawn that lets the GIL go (the handoff's, :mod:`.spawn_nogil`): the thread
        would take the GIL back at ``SCHED_IDLE``, beside its child at the same class, while
        the serving threads wait for it to take it (measured: the serving CPU idle 3 ms per
        upgrade instead of 2). That spawn gives the child ``SCHED_IDLE`` itself.
        """
        if self.mode == "idle":
            return _running_lowered(policy=os.SCHED_IDLE, increment=0)
        if self.mode == "nice":
            return _running_lowered(policy=None, increment=self.nice)
        return contextlib.nullcontext(False)

    def spawning(self) -> contextlib.AbstractContextManager[bool]:
        """Around a spawn (the handoff: around the whole wait for its ``READY=1``): the calling
        thread runs on the spare CPUs meanwhile, so the child is born there and its ``exec``
        does not run on a serving CPU; then the thread is put back. Gives False when the thread
        could not be moved (a child born inside is then not placed: ``lower(at_birth=False)``).
        """
        return _running_on(self.spare_cpus)

    def spawning_home(self) -> contextlib.AbstractContextManager[bool]:
        """Around the spawn of a generation that serves at once (none serves yet): the calling
        thread runs on the *home* CPUs meanwhile, so the child is born where it serves."""
        return _running_on(self.home)

    def set_aside(self, pid: int, *, children: bool = True) -> bool:
        """Move a generation that has stopped serving onto the spare CPUs for its drain and
        exit (with *children*: its descendants too); False without spare CPUs."""
        if not self.spare_cpus:
            return False
        return affinity.move(pid, self.spare_cpus, children=children)


@contextlib.contextmanager
def _running_lowered(*, policy: int | None, increment: int) -> Iterator[bool]:
    """The calling thread at *policy* (None: its own) and *increment* nice levels lower inside
    the block, then put back; gives False, changing nothing, when it could not be put back:
    a thread not at ``SCHED_OTHER``, or one :func:`can_restore` says no to."""
    try:
        own_policy = os.sched_getscheduler(0)  # 0: this thread
        own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        yield False
        return
    if own_policy != os.SCHED_OTHER or not can_restore(max(1, increment), nice=own_nice):
        yield False
        return
    lowered_nice = min(19, own_nice + increment)
    try:
        if increment:
            os.setpriority(os.PRIO_PROCESS, 0, lowered_nice)
        if policy is not None:
            os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        _put_back(own_policy, own_nice)
        yield False
        return
    try:
        yield True
    finally:
        _put_back(own_policy, own_nice)


def _put_back(policy: int, nice: int) -> None:
    """The calling thread back to *policy* at *nice* (permitted: see :func:`_running_lowered`)."""
    if os.sched_getscheduler(0) != policy:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    if os.getpriority(os.PRIO_PROCESS, 0) != nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)


@contextlib.contextmanager
def _running_on(cpus: frozenset[int] | None) -> Iterator[bool]:
    """The calling thread on *cpus* inside the block (None: where it is), then put back; gives
    False when it could not be moved there."""
    if not cpus:
        yield True
        return
    own = os.sched_getaffinity(0)  # 0: this thread
    try:
        os.sched_setaffinity(0, cpus)
    except OSError:  # the CPUs went away (a cpuset changed): spawn where we are
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setaffinity(0, own)
