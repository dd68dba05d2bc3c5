"""What ``supervise`` does on a request and on each event of its generations, and how it ends.

:class:`Reactions` is the deciding half of ``supervise``; the loop
(:class:`~socket_activation.restart.supervisor.Supervisor`, which turns signals, datagrams and
deadlines into calls) is the other. It gets:

- the requests: :meth:`~Reactions.reload` starts a rollout, refused while stopping and coalesced
  into one more rollout while one is under way; :meth:`~Reactions.stop` forwards a stop signal
  to every generation (``STOPPING=1``, a pending reload abandoned); :meth:`~Reactions.on_signal`
  turns a caught signal into one of those (a first ``SIGTERM`` may be held back by the
  :class:`~socket_activation.restart.stopping.StopPolicy`) or passes it to the serving
  generation;
- every event a :class:`~socket_activation.restart.generations.Generations` call returns
  (:mod:`~socket_activation.restart.generation_events`), through :meth:`~Reactions.handle`. A
  rollout's :class:`~.generation_events.Outcome` is told to the reload client and, unless the
  spawn itself failed (the bookkeeping logs that), to the log and the service manager. A failed
  rollout leaves the old generation serving; with none serving it ends the supervisor: ``127``
  when the spawn failed, else (unless a stop is under way) the generation's status or ``1``.
  A rollout asked for meanwhile follows one that is over. An
  :class:`~.generation_events.Exited` of the serving generation outside a stop is a death: the
  :class:`~socket_activation.restart.crashloop.RestartPolicy` decides between a replacement and
  giving up. A :class:`~.generation_events.Message` goes to the health endpoint and is
  forwarded to the service manager.

:attr:`Reactions.exit` is the status the supervisor ends with, once set: by a failed start, or
by :meth:`~Reactions.finish` when a stop is over and every generation is gone.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable

from .crashloop import RESTART_WINDOW, RestartPolicy
from .generation_events import Event, Exited, Message, Outcome
from .generations import Generations
from .health import Health
from .manager import ManagerLink
from .rollout import RolloutTracker
from .signals import STOP_SIGNALS
from .stopping import StopPolicy

__all__ = ["Reactions"]


class Reactions:
    """See the module docstring. :attr:`notify_socket` is the address every new generation
    gets as ``NOTIFY_SOCKET``: the loop sets it once its readiness socket is open."""

    def __init__(
        self,
        generations: Generations,
        policy: RestartPolicy,
        *,
        tracker: RolloutTracker,
        manager: ManagerLink,
        stops: StopPolicy,
        health: Health | None,
        log: Callable[[str], None],
    ) -> None:
        self._generations = generations
        self._policy = policy
        self._tracker = tracker
        self._manager = manager
        self._stops = stops
        self._health = health
        self._log = log
        self.notify_socket = ""
        self.exit: int | None = None  # set: the loop ends with this status
        self._reload_again = False
        self._final: int | None = None  # the serving generation's status, once it is gone

    # -- requests ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the next generation and act on what that returns."""
        self.handle(self._generations.start(self.notify_socket))

    def reload(self) -> None:
        """Roll out a new generation (what SIGHUP does)."""
        if self._generations.stopping is not None or self._stops.holding:
            self._tracker.refuse("supervise is stopping: no new generation will start")
            return
        if self._generations.rolling_out:
            self._reload_again = True
            self._log("a rollout is in progress; another will follow it")
            return
        self._tracker.started(self._generations.count + 1)  # RELOADING=1, STATUS=
        self.start()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Forward *signum* to every generation; exit once they are gone (what SIGTERM does)."""
        if self._generations.stopping is None:
            self._log(f"stopping on {signal.Signals(signum).name}")
            self._manager.tell("STOPPING=1")
            self._tracker.abort(
                f"supervise is stopping ({signal.Signals(signum).name}); the reload was abandoned"
            )
        self._generations.stop(signum)

    def on_signal(self, signum: int) -> None:
        """What a signal the loop caught asks for: ``SIGHUP`` a reload, a stop signal a stop
        (the first ``SIGTERM`` may be held back by a shutdown delay), any other is passed to
        the serving generation."""
        if signum == signal.SIGCHLD:
            return  # every step reaps
        if signum == signal.SIGHUP:
            self.reload()
        elif signum in STOP_SIGNALS:
            self._stop_signal(signum)
        else:
            self._generations.signal_serving(signum)

    def _stop_signal(self, signum: int) -> None:
        """A stop signal; the first SIGTERM waits out a shutdown delay, serving, not ready."""
        if self._health is not None:
            self._health.shutting_down()
        if not self._stops.hold(signum, self._generations.stopping is not None):
            self.stop(signum)

    # -- events --------------------------------------------------------------------------------

    def handle(self, events: Iterable[Event]) -> None:
        """Act on each of *events*, in order."""
        for event in events:
            if isinstance(event, Outcome):
                self._on_outcome(event)
            elif isinstance(event, Exited):
                self._on_exit(event)
            elif isinstance(event, Message):
                if self._health is not None:
                    self._health.notified(event.generation.number, event.note.fields)
                self._manager.forward(event.note.fields)

    def finish(self) -> None:
        """Set :attr:`exit` once a stop is over and every generation is gone."""
        stopping = self._generations.stopping
        if self.exit is not None or stopping is None or len(self._generations):
            return
        self.exit = self._stops.exit_status(self._final, stopping)

    def _on_outcome(self, outcome: Outcome) -> None:
        gen, serving = outcome.generation, self._generations.serving
        kept = f"; {serving} keeps serving" if serving else ""
        if outcome.result == "not-started":
            why = f"cannot start generation {outcome.number}: {outcome.reason}{kept}"
            self._tracker.failed(outcome.number, why)
            if serving is None:
                self.exit = 127
            return
        if outcome.ready:
            old = outcome.replaced
            self._log(f"{gen} is ready; {old} is draining" if old else f"{gen} is ready")
            self._manager.serving(f"{gen} serving")
            assert gen is not None
            olds = [old.pid] if old is not None else []
            self._tracker.promoted(outcome.number, gen.pid, olds, f"{gen} serving")
        else:
            why = f"{gen} {outcome.reason} before READY=1{kept}"
            self._log(why)
            self._manager.tell(f"STATUS={gen} failed to start: {outcome.reason}")
            self._tracker.failed(outcome.number, why)
            if serving is None and self._generations.stopping is None:
                # the first generation (or the replacement of a dead one) never became ready:
                # nothing serves, and waiting would idle forever
                self.exit = outcome.exit_code or 1
                return
        if self._reload_again:  # a rollout is over: the one asked for meanwhile follows
            self._reload_again = False
            self.reload()

    def _on_exit(self, event: Exited) -> None:
        gen = event.generation
        if gen.state != "serving":  # draining or failed: expected to go
            self._log(f"{gen} {event.how}")
        elif self._generations.stopping is not None:
            self._final = event.exit_code
            self._log(f"{gen} {event.how}")
        else:
            self._died(event)

    def _died(self, event: Exited) -> None:
        gen, how = event.generation, event.how
        restart, deaths = self._policy.died(event.exit_code)
        if restart and self._policy.crash_loop(deaths):
            self._log(f"{gen} {how}; {deaths} deaths in {RESTART_WINDOW:g} s, giving up")
            restart = False
        if not restart:
            self._log(f"{gen} {how}; stopping")
            self.stop(signal.SIGTERM)
            self._final = event.exit_code
            return
        self._log(f"{gen} {how}; starting a replacement")
        if not self._generations.rolling_out:
            self.start()
