"""Run a server on sockets we hold, and restart it without dropping a connection.

:class:`Supervisor` is ``socket-activation supervise``: it holds the listening sockets
(inherited or bound) and runs the command as a *generation* with them at fds 3.. through
``LISTEN_*``, and with ``NOTIFY_SOCKET`` naming a private readiness socket of ours:

- ``SIGHUP`` (or ``socket-activation reload``, or a change under ``watch``, see
  :mod:`~socket_activation.restart.reload_channel`): start a new generation on the same
  sockets; when it says ``READY=1`` (within ``ready_timeout``), send the old one ``SIGTERM``
  so it drains (``SIGKILL`` after ``drain_timeout``). Both accept from the same kernel queue
  meanwhile, so nothing is refused. If the new one exits or times out before ``READY=1``, it
  is killed and the old one keeps serving. A ``SIGHUP`` during a rollout is coalesced into
  one more rollout after it.
- ``ready="started"``: for programs that never send ``READY=1``, a generation counts as
  ready as soon as it is spawned (no protection against a failing start).
- The serving generation dying unexpectedly (non-zero exit or a signal) starts a replacement
  at once while the sockets keep queueing connections (``restart="on-failure"``, the
  default); more than :data:`RESTART_BURST` such deaths in :data:`RESTART_WINDOW` seconds
  give up. A clean exit (status 0) ends the supervisor with it.
- ``SIGTERM``/``SIGINT``/``SIGQUIT`` are forwarded to every generation; the supervisor exits
  when they have, with the serving generation's status (``128 + N`` for death by signal N).
  ``SIGUSR1``/``SIGUSR2``/``SIGWINCH`` go to the serving generation.
- As PID 1 (a container's init) every child is reaped, including orphans re-parented to us.
- ``start_priority="idle"`` (default): a generation started while another serves runs at
  ``SCHED_IDLE`` until its ``READY=1`` (moved to ``start_nice`` levels nicer if it is still
  starting after :data:`~socket_activation.restart.priority.IDLE_LIMIT` s), so its start-up
  does not take the CPU from the one serving; ``"nice"`` lowers it by ``start_nice`` (default
  10) instead, ``"normal"`` (or ``start_nice=0`` with ``"nice"``) not at all; so does a lack
  of the privilege to restore it (:mod:`~socket_activation.restart.priority`).
- ``spare_cpus``: CPUs the serving generation does not use. A generation started while another
  serves runs only on them until its ``READY=1``; the one it replaces is moved onto them for its
  drain and exit (:mod:`~socket_activation.restart.affinity`). :meth:`Supervisor.run` runs on
  them too (its spawns, bookkeeping and reaping stay off the serving CPUs) and generations
  serve on the CPUs the supervisor was made on.
- ``exit_idle_time=S``: once the kernel has shown no connection open or queued on any socket
  for S seconds (:class:`~socket_activation.restart.idle.IdleWatch`), stop like ``SIGTERM``
  (``STOPPING=1``, the generation drains) and exit 0. Only for sockets a service manager holds
  too: it starts the service again on the next connection, which waits in the queue meanwhile.

``first=``: an :class:`~socket_activation.restart.early.EarlyStart`, the first generation
already spawned (and its readiness socket made) before ``supervise`` imported this module;
:meth:`Supervisor.run` adopts both instead of starting one, then unblocks the signals the early
start held.

Under systemd (``NOTIFY_SOCKET`` set for us), the supervisor is the main process: it sends
``READY=1`` when the first generation is ready, ``STATUS=`` on every change, and forwards the
serving generation's ``STATUS=``, ``WATCHDOG=1`` and ``EXTEND_TIMEOUT_USEC=``. Each rollout
speaks the ``Type=notify-reload`` protocol: ``RELOADING=1`` when it starts, ``READY=1`` once it
is over (see :mod:`~socket_activation.restart.rollout`).

:class:`Supervisor` is the loop: it turns signals, notifications, exits and deadlines into
calls on a :class:`~socket_activation.restart.generations.Generations` (the bookkeeping: which
generations exist and what became of each), and leaves what they mean to its
:class:`~socket_activation.restart.reactions.Reactions`: the requests (reload, stop, a signal)
and the events those calls return (a rollout's
:class:`~socket_activation.restart.generation_events.Outcome`, a generation's exit, a message to
forward); the reactions also set the status the loop ends with. Its other parts each do one
job: :mod:`~socket_activation.restart.signals` (the wake pipe),
:mod:`~socket_activation.restart.crashloop` (whether a dead generation is replaced),
:mod:`~socket_activation.restart.stopping` (shutdown delay, idle exit, the final status) and
:mod:`~socket_activation.restart.manager` (what the service manager is told). The library never
prints: progress goes to the *log* callback.

With a :class:`~socket_activation.restart.health.Health` (``supervise --health``) the loop tells
it, after every step, which generation serves and passes it the serving generation's
notifications; a :class:`~socket_activation.restart.health.ShutdownDelay` makes the first
``SIGTERM`` turn readiness off and holds the stop back for its seconds (reloads are refused
meanwhile).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from . import affinity
from .child_env import child_environment
from .crashloop import RESTART_BURST, RESTART_WINDOW, RestartPolicy
from .generations import Generations
from .health import Health, ShutdownDelay
from .idle import IdleWatch
from .manager import ManagerLink
from .priority import DEFAULT_NICE, StartPriority
from .reactions import Reactions
from .readiness import ReadinessSocket
from .reload_channel import ReloadChannel
from .signals import SignalWake
from .stopping import StopPolicy

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from .early import EarlyStart

__all__ = ["RESTART_BURST", "RESTART_WINDOW", "Supervisor"]

# The longest the loop sleeps: also bounds how long a lost SIGCHLD could go unnoticed.
_MAX_WAIT = 1.0


class Supervisor:
    """See the module docstring. :meth:`run` must be called from the main thread."""

    def __init__(
        self,
        argv: Sequence[str],
        sockets: Sequence[socket.socket],
        names: Sequence[str],
        *,
        ready: str = "notify",
        ready_timeout: float = 30.0,
        drain_timeout: float = 30.0,
        restart: str = "on-failure",
        environ: Mapping[str, str] | None = None,
        log: Callable[[str], None] | None = None,
        health: Health | None = None,
        shutdown_delay: float = 0.0,
        watch: Sequence[str | os.PathLike[str]] = (),
        exit_idle_time: float | None = None,
        start_nice: int = DEFAULT_NICE,
        start_priority: str = "idle",
        spare_cpus: Iterable[int] | None = None,
        first: EarlyStart | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        if watch:
            # a .pyc records its source's mtime in whole seconds and its size: an edit within
            # the second that keeps the size ("VALUE = 1" -> "VALUE = 2") would load stale code
            env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        self._log = log or (lambda _text: None)
        self._health = health
        delay = ShutdownDelay(shutdown_delay)
        child_env = child_environment(env)
        child_env.update(health.environment() if health else {})
        spare = frozenset(spare_cpus) if spare_cpus is not None else None
        # generations serve where supervise was started; run() moves supervise to the spare CPUs
        self._home = frozenset(os.sched_getaffinity(0)) if spare else None
        self._spare = spare
        # ValueError for a bad one
        priority = StartPriority(start_priority, start_nice, spare_cpus=spare, home=self._home)
        if (why := priority.unavailable()) is not None:
            self._log(f"new generations start at normal priority: {why}")
            priority = priority.without_priority()
        if spare and (shared := spare & os.sched_getaffinity(0)):
            cpus = ",".join(str(c) for c in sorted(shared))
            self._log(
                f"spare CPUs {cpus} are also CPUs supervise runs on: the serving generation "
                "shares them (keep it off with CPUAffinity= or taskset)"
            )
        self._generations = Generations(
            argv,
            sockets,
            names,
            child_env,
            ready=ready,
            ready_timeout=ready_timeout,
            drain_timeout=drain_timeout,
            log=self._log,
            start_priority=priority,
        )
        policy = RestartPolicy(restart)  # raises ValueError for an unknown mode
        self._first = first
        self.argv = list(argv)
        self.sockets = list(sockets)
        self.names = list(names)
        self.ready_mode = ready
        self.ready_timeout = ready_timeout
        self.drain_timeout = drain_timeout
        self.restart = restart
        self._manager = ManagerLink(env, self._log)
        self._reloads = ReloadChannel(
            sockets, notify=self._manager.tell, reload=self.reload, log=self._log, watch=watch
        )
        # exit_idle_time: raises SockDiagError now for a socket the kernel cannot describe
        idle = None if exit_idle_time is None else IdleWatch(sockets, exit_idle_time)
        self._stops = StopPolicy(delay, idle, log=self._log, notify=self._manager.tell)
        self._reactions = Reactions(
            self._generations,
            policy,
            tracker=self._reloads.tracker,
            manager=self._manager,
            stops=self._stops,
            health=health,
            log=self._log,
        )

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Start the first generation and supervise until done; returns the exit status."""
        try:
            self._step_aside()
            with (
                SignalWake() as wake,
                self._readiness_socket() as readiness,
                selectors.DefaultSelector() as selector,
            ):
                self._reactions.notify_socket = readiness.address
                # each registered file carries what to do when it is readable
                selector.register(wake.socket, selectors.EVENT_READ, lambda: self._on_wake(wake))
                selector.register(
                    readiness, selectors.EVENT_READ, lambda: self._on_readiness(readiness)
                )
                self._reloads.open(selector)
                self._start_first()
                self._observe()
                while self._reactions.exit is None:
                    self._step(selector)
            return self._reactions.exit
        finally:
            self._reloads.close()
            self._generations.kill_all()
            if self._home is not None:  # a library caller gets its affinity back
                affinity.move(os.getpid(), self._home, children=False)

    def _step_aside(self) -> None:
        """With spare CPUs, supervise's own work (spawning, reaping, the notify socket, logs)
        runs on them too, not on the CPUs its generations serve on."""
        if self._spare and not affinity.move(os.getpid(), self._spare, children=False):
            self._log("cannot move supervise onto the spare CPUs; it stays where it is")

    def _readiness_socket(self) -> ReadinessSocket:
        if self._first is None:
            return ReadinessSocket()
        return ReadinessSocket.adopt(self._first.take_notify_socket(), self._first.notify_address)

    def _start_first(self) -> None:
        first = self._first
        if first is None:
            self._reactions.start()
            return
        # started before supervise's imports: adopt it, then let the signals held since in
        first.adopted = True
        self._reactions.handle(self._generations.adopt(first.pid, first.started_at))
        first.release()

    def _step(self, selector: selectors.BaseSelector) -> None:
        for key, _mask in selector.select(self._timeout()):
            key.data()
        self._reloads.step()
        # every step reaps: a SIGCHLD may have been lost
        self._reactions.handle(self._generations.reap())
        self._reactions.handle(self._generations.check_deadlines())
        if self._stops.due(self._generations, exiting=self._reactions.exit is not None):
            self.stop(signal.SIGTERM)
        self._reactions.finish()
        self._observe()

    def _observe(self) -> None:
        if self._health is not None:
            stopping = self._generations.stopping is not None
            self._health.observe(self._generations.serving, stopping)

    def _timeout(self) -> float:
        waits = [_MAX_WAIT]
        deadlines = [self._generations.next_deadline(), *self._stops.deadlines()]
        now = time.monotonic()
        waits.extend(d - now for d in deadlines if d is not None)
        if (soon := self._reloads.timeout()) is not None:
            waits.append(soon)
        return max(0.0, min(waits))

    def _on_wake(self, wake: SignalWake) -> None:
        for signum in wake.read():
            self._reactions.on_signal(signum)

    def _on_readiness(self, readiness: ReadinessSocket) -> None:
        for note in readiness.drain():
            self._reactions.handle(self._generations.notified(note))

    # -- requests ------------------------------------------------------------------------------

    def reload(self) -> None:
        """Roll out a new generation (what SIGHUP does)."""
        self._reactions.reload()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Forward *signum* to every generation; exit once they are gone (what SIGTERM does)."""
        self._reactions.stop(signum)
