"""The generations of one supervised command: which exist, which one serves, what became of each.

:class:`Generations` is the bookkeeping half of ``supervise`` (the signal and event loop is
:mod:`socket_activation.restart.supervisor`). It starts a generation with the held sockets at
fds 3.. and ``NOTIFY_SOCKET`` naming the loop's readiness socket, attributes each notification
to the generation that sent it, promotes a generation to serving on its ``READY=1`` (the one it
replaces is sent ``SIGTERM`` and drains, on the spare CPUs if there are any), stops one that
misses its ready deadline, sends ``SIGKILL`` to one that outlives its drain deadline, and reaps.

It decides nothing about what happens next. Every method that can change the state returns the
events the loop must act on: an :class:`Outcome` (how a rollout ended), an :class:`Exited` (a
generation past its rollout was reaped) or a :class:`Message` (a notification from the serving
generation). Those records and :class:`Generation` are
:mod:`~socket_activation.restart.generation_events`'; :func:`exit_code` is
:mod:`~socket_activation.restart.wait_status`'. Both are importable from here too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence

from ..systemd.notify import NOTIFY_SOCKET
from .credentials import belongs_to
from .generation_events import Event, Exited, Generation, Message, Outcome
from .notification import Notification
from .priority import IDLE_LIMIT, StartPriority
from .spawn import spawn_with_sockets
from .wait_status import describe_wait_status, exit_code

__all__ = ["Event", "Exited", "Generation", "Generations", "Message", "Outcome", "exit_code"]

# How long a generation that failed to start gets between SIGTERM and SIGKILL.
_KILL_GRACE = 1.0


class Generations:
    """The running generations of *argv* on *sockets*; see the module docstring.

    ``ready="started"`` counts a generation as ready as soon as it is spawned. *env* is the
    environment every generation starts from (``LISTEN_*`` and ``NOTIFY_SOCKET`` are set here).
    """

    def __init__(
        self,
        argv: Sequence[str],
        sockets: Sequence[socket.socket],
        names: Sequence[str],
        env: Mapping[str, str],
        *,
        ready: str = "notify",
        ready_timeout: float = 30.0,
        drain_timeout: float = 30.0,
        log: Callable[[str], None] | None = None,
        start_priority: StartPriority | None = None,
    ) -> None:
        if not argv:
            raise ValueError("supervise needs a command to run")
        if len(sockets) != len(names):
            raise ValueError(f"{len(sockets)} sockets but {len(names)} names")
        if ready not in ("notify", "started"):
            raise ValueError(f"ready must be 'notify' or 'started', got {ready!r}")
        for what, value in (("ready_timeout", ready_timeout), ("drain_timeout", drain_timeout)):
            if value <= 0:
                raise ValueError(f"{what} must be positive, got {value!r}")
        self.argv = list(argv)
        self.sockets = list(sockets)
        self.names = list(names)
        self.ready_mode = ready
        self.ready_timeout = ready_timeout
        self.drain_timeout = drain_timeout
        self._env = dict(env)
        # a generation that starts while another serves runs lowered (restart/priority.py)
        self.start_priority = start_priority or StartPriority("normal")
        self._log = log or (lambda _text: None)
        self._generations: list[Generation] = []
        self._count = 0
        self.serving: Generation | None = None
        self.stopping: int | None = None  # the stop signal, once stop() was called

    def __len__(self) -> int:
        """How many generations are alive (not yet reaped)."""
        return len(self._generations)

    @property
    def count(self) -> int:
        """How many generations were started (or tried) so far: the last one's number."""
        return self._count

    @property
    def rolling_out(self) -> bool:
        """True while a generation is starting (waiting for its ``READY=1``)."""
        return any(g.state == "starting" for g in self._generations)

    def next_deadline(self) -> float | None:
        """The earliest ready or kill deadline (``time.monotonic()``), or None."""
        deadlines = [
            d for g in self._generations for d in (g.deadline, g.escalate_at) if d is not None
        ]
        return min(deadlines) if deadlines else None

    # -- what the loop asks for ----------------------------------------------------------------

    def start(self, notify_socket: str) -> list[Event]:
        """Start the next generation, its ``NOTIFY_SOCKET`` *notify_socket*.

        Returns ``[]`` while its ``READY=1`` is awaited, else its :class:`Outcome` at once
        (``ready`` with ``ready="started"``, ``not-started`` when it could not be spawned).
        """
        self._count += 1
        env = dict(self._env)
        env[NOTIFY_SOCKET] = notify_socket
        fds = [s.fileno() for s in self.sockets]
        # born on the spare CPUs, if any, when another generation serves; else where it serves
        priority = self.start_priority
        spawning = priority.spawning() if self.serving else priority.spawning_home()
        # and at the start class: it never starts at normal priority beside the one serving
        born = priority.born() if self.serving else contextlib.nullcontext(False)
        try:
            with spawning as placed, born as classed:
                pid = spawn_with_sockets(self.argv, fds, self.names, env)
        except OSError as exc:
            self._log(f"cannot start generation {self._count} ({self.argv[0]!r}): {exc}")
            return [Outcome(self._count, "not-started", reason=str(exc))]
        gen = Generation(self._count, pid, "starting", time.monotonic() + self.ready_timeout)
        if self.serving is not None:  # yield the CPU to the one that serves
            gen.lowered = priority.lower(pid, at_birth=placed, born_lowered=classed)
            if gen.lowered is not None and gen.lowered.idle:
                gen.escalate_at = time.monotonic() + IDLE_LIMIT
        self._generations.append(gen)
        self._log(f"started {gen}")
        if self.ready_mode == "started":
            return [self._promote(gen)]
        return []

    def adopt(self, pid: int, started_at: float) -> list[Event]:
        """Take over a first generation already spawned (``supervise``'s early start, see
        :mod:`.early`) at *started_at* (``time.monotonic()``): as :meth:`start` would have
        started it, its ready deadline counted from then."""
        self._count += 1
        gen = Generation(self._count, pid, "starting", started_at + self.ready_timeout)
        self._generations.append(gen)
        self._log(f"started {gen} (early start)")
        if self.ready_mode == "started":
            return [self._promote(gen)]
        return []

    def stop(self, signum: int) -> None:
        """Send *signum* to every generation; each gets ``drain_timeout`` before ``SIGKILL``."""
        self.stopping = signum
        deadline = time.monotonic() + self.drain_timeout
        for gen in self._generations:
            if gen.lowered is not None:  # an idle task might not get to run its handler
                gen.lowered.escalate()
                gen.escalate_at = None
            _kill(gen.pid, signum)
            gen.deadline = deadline if gen.state != "failed" else gen.deadline

    def signal_serving(self, signum: int) -> None:
        """Pass *signum* to the serving generation, if there is one."""
        if self.serving is not None:
            _kill(self.serving.pid, signum)

    def kill_all(self) -> None:
        """``SIGKILL`` and reap every generation still alive."""
        for gen in self._generations:
            _kill(gen.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(gen.pid, 0)
        self._generations.clear()
        self.serving = None

    # -- what happened -------------------------------------------------------------------------

    def notified(self, note: Notification) -> list[Event]:
        """Attribute *note* to its generation: a starting one's ``READY=1`` promotes it."""
        if note.pid is None:
            return []
        sender = note.pid
        gen = next(
            (g for g in self._generations if g.state != "failed" and belongs_to(sender, [g.pid])),
            None,
        )
        if gen is None:
            return []
        if gen.state == "starting" and note.ready:
            return [self._promote(gen)]
        if gen is self.serving:
            return [Message(gen, note)]
        return []

    def reap(self) -> list[Event]:
        """Reap every child that has exited (orphans too, as PID 1); events for generations."""
        events: list[Event] = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return events
            if pid == 0:
                return events
            gen = next((g for g in self._generations if g.pid == pid), None)
            if gen is not None:  # anything else: an orphan re-parented to us as PID 1
                events.append(self._exited(gen, status))

    def check_deadlines(self) -> list[Event]:
        """Stop a starting generation past its ready deadline (a ``timed-out`` outcome);
        ``SIGKILL`` any other past its deadline."""
        events: list[Event] = []
        now = time.monotonic()
        for gen in list(self._generations):
            if gen.escalate_at is not None and now >= gen.escalate_at:
                gen.escalate_at = None
                if gen.state == "starting" and gen.lowered is not None and gen.lowered.escalate():
                    self._log(
                        f"{gen} still starting after {IDLE_LIMIT:g} s at idle priority; "
                        f"it goes on niced {gen.lowered.nice}"
                    )
            if gen.deadline is None or now < gen.deadline:
                continue
            if gen.state == "starting" and self.stopping is None:
                why = f"sent no READY=1 within {self.ready_timeout:g} s; stopping it"
                gen.state, gen.deadline = "failed", now + _KILL_GRACE
                _kill(gen.pid, signal.SIGTERM)
                events.append(Outcome(gen.number, "timed-out", gen, reason=why))
            else:
                self._log(f"{gen} still running after its deadline; sending SIGKILL")
                gen.deadline = None
                _kill(gen.pid, signal.SIGKILL)
        return events

    # -- transitions ---------------------------------------------------------------------------

    def _promote(self, gen: Generation) -> Outcome:
        old = self.serving
        gen.state, gen.deadline, gen.escalate_at = "serving", None, None
        if gen.lowered is not None:
            gen.lowered.restore()
            gen.lowered = None
        self.serving = gen
        if old is not None:
            old.state, old.deadline = "draining", time.monotonic() + self.drain_timeout
            self.start_priority.set_aside(old.pid)  # onto the spare CPUs, if there are any
            _kill(old.pid, signal.SIGTERM)
        return Outcome(gen.number, "ready", gen, replaced=old)

    def _exited(self, gen: Generation, status: int) -> Event:
        gen.status = status
        self._generations.remove(gen)
        if gen.state == "starting":
            how = describe_wait_status(status)
            return Outcome(gen.number, "exited", gen, status=status, reason=how)
        if gen is self.serving:
            self.serving = None
        return Exited(gen, status)


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
