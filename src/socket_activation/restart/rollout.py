"""The truth about a supervisor's rollouts: who waits for which one, and when it is complete.

A rollout (``SIGHUP``, ``socket-activation reload``, a file change under ``--watch``) starts a
new generation. It is *complete* when that generation sent ``READY=1`` and every older one has
let go of the listening sockets (:mod:`~socket_activation.restart.release`): only from then on
is every new connection answered by the new code. It has *failed* when the new generation
exited, crashed or timed out before ``READY=1``; the old one keeps serving.

:class:`RolloutTracker` turns those events into answers:

- to the service manager, the ``Type=notify-reload`` protocol (also understood by systemd 252
  for ``Type=notify``): ``RELOADING=1`` with ``MONOTONIC_USEC=`` when the rollout starts, and
  ``READY=1`` with a ``STATUS=`` line when it is over, success or not. Released systemd has no
  message that fails a reload (systemd PR #39745 proposes one), so a failure is told in
  ``STATUS=``, and ``ExecReload=socket-activation reload`` is what makes ``systemctl reload``
  itself fail;
- to each ``socket-activation reload`` client, its outcome. A request that arrives during a
  rollout waits for the *next* one (which the supervisor queues): the one under way may have
  started before the code the client wants to see was in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .control import ControlRequest
from .release import holders

__all__ = ["Rollout", "RolloutTracker"]

# while a handover is pending, how often to look whether the old generations let go
HANDOVER_POLL = 0.005


@dataclass
class Rollout:
    """One rollout: the generation it started, its waiters, and once promoted, the old pids."""

    number: int
    started: float
    pid: int = 0
    waiters: list[ControlRequest] = field(default_factory=list)
    old_pids: list[int] = field(default_factory=list)
    ready_at: float | None = None
    status: str = ""


class RolloutTracker:
    """See the module docstring. *notify* sends one message to the service manager (or does
    nothing without one); *inodes* are the listening sockets' inode numbers."""

    def __init__(self, inodes: Sequence[int], notify: Callable[[str], None]) -> None:
        self._inodes = list(inodes)
        self._notify = notify
        self._queued: list[ControlRequest] = []
        self._current: Rollout | None = None
        self._handovers: list[Rollout] = []

    @property
    def busy(self) -> bool:
        """True while a rollout's generation starts or a handover is pending."""
        return self._current is not None or bool(self._handovers)

    def request(self, request: ControlRequest) -> None:
        """A client waits for the next rollout to start and finish."""
        self._queued.append(request)

    def started(self, number: int) -> None:
        """The rollout of generation *number* begins; queued clients now wait for it."""
        rollout = Rollout(number, time.monotonic(), waiters=self._queued)
        self._queued = []
        self._current = rollout
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._notify(f"RELOADING=1\nMONOTONIC_USEC={now_usec}\nSTATUS=starting generation {number}")

    def failed(self, number: int, why: str) -> None:
        """Generation *number* of the current rollout failed before ``READY=1``: *why* says so,
        including who keeps serving."""
        rollout = self._take(number)
        if rollout is None:
            return
        for request in rollout.waiters:
            request.fail(why)
        self._notify(f"READY=1\nSTATUS=reload failed: {_one_line(why)}")

    def refuse(self, why: str) -> None:
        """No rollout will start (the supervisor stops): queued clients are told *why*."""
        waiters, self._queued = self._queued, []
        for request in waiters:
            request.fail(why)

    def promoted(self, number: int, pid: int, old_pids: Sequence[int], status: str) -> None:
        """Generation *number* (*pid*) is ready; *old_pids* were sent SIGTERM. The rollout
        completes once they, and the old generations of every handover still pending, let go
        of the sockets (:meth:`poll`); *status* is the ``STATUS=`` sent then."""
        rollout = self._take(number)
        if rollout is None:
            return
        rollout.pid = pid
        earlier = [p for h in self._handovers for p in h.old_pids if p not in old_pids]
        rollout.old_pids = [*old_pids, *earlier]
        rollout.ready_at = time.monotonic()
        rollout.status = status
        self._handovers.append(rollout)
        self.poll()

    def poll(self) -> None:
        """Complete every handover whose old generations hold no listening socket any more."""
        for rollout in list(self._handovers):
            if holders(rollout.old_pids, self._inodes):
                continue
            self._handovers.remove(rollout)
            assert rollout.ready_at is not None
            now = time.monotonic()
            ready_ms = (rollout.ready_at - rollout.started) * 1000
            release_ms = (now - rollout.ready_at) * 1000
            olds = ", ".join(map(str, rollout.old_pids)) or "none"
            message = (
                f"generation {rollout.number} (pid {rollout.pid}) serves: ready after "
                f"{ready_ms:.0f} ms; old pids ({olds}) let go of the sockets {release_ms:.0f} ms "
                "later"
            )
            for request in rollout.waiters:
                request.succeed(message, pid=rollout.pid, generation=rollout.number)
            self._notify(f"READY=1\nSTATUS={rollout.status}")

    def timeout(self) -> float | None:
        """How soon :meth:`poll` wants to run again (None: no handover pending)."""
        return HANDOVER_POLL if self._handovers else None

    def abort(self, why: str) -> None:
        """Tell every client still waiting that no outcome will come (the supervisor stops)."""
        pending = self._queued + [r for h in self._handovers for r in h.waiters]
        if self._current is not None:
            pending += self._current.waiters
        self._queued, self._handovers, self._current = [], [], None
        for request in pending:
            request.fail(why)

    def _take(self, number: int) -> Rollout | None:
        rollout = self._current
        if rollout is None or rollout.number != number:
            return None
        self._current = None
        return rollout


def _one_line(text: str) -> str:
    return " ".join(text.split())
