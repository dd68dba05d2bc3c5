"""Run a server on sockets we hold, and restart it without dropping a connection.

:class:`Supervisor` is ``socket-activation supervise``: it holds the listening sockets
(inherited or bound) and runs the command as a *generation* with them at fds 3.. through
``LISTEN_*``, and with ``NOTIFY_SOCKET`` naming a private readiness socket of ours:

- ``SIGHUP``: start a new generation on the same sockets; when it says ``READY=1`` (within
  ``ready_timeout``), send the old one ``SIGTERM`` so it drains (``SIGKILL`` after
  ``drain_timeout``). Both accept from the same kernel queue meanwhile, so nothing is refused.
  If the new one exits or times out before ``READY=1``, it is killed and the old one keeps
  serving. A ``SIGHUP`` during a rollout is coalesced into one more rollout after it.
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

Under systemd (``NOTIFY_SOCKET`` set for us), the supervisor is the main process: it sends
``READY=1`` when the first generation is ready, ``STATUS=`` on every change, and forwards the
serving generation's ``STATUS=``, ``WATCHDOG=1`` and ``EXTEND_TIMEOUT_USEC=``.

The library never prints: progress goes to the *log* callback.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .._errors import NotifyError
from ..systemd.notify import NOTIFY_SOCKET, notify
from .handoff import MANAGER_NOTIFY_SOCKET
from .readiness import Notification, ReadinessSocket, belongs_to, describe_wait_status
from .spawn import spawn_with_sockets

__all__ = ["RESTART_BURST", "RESTART_WINDOW", "Supervisor"]

# A crash loop: this many unexpected deaths within RESTART_WINDOW seconds ends the supervisor.
RESTART_BURST = 5
RESTART_WINDOW = 10.0
# How long a generation that failed to start gets between SIGTERM and SIGKILL.
_KILL_GRACE = 1.0
# Signals that stop everything (forwarded as they are) and signals passed to the serving child.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_FORWARD_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)
# Notification keys worth passing from the serving generation up to the service manager.
_FORWARD_KEYS = ("STATUS", "WATCHDOG", "EXTEND_TIMEOUT_USEC")
# Variables a generation must not inherit: they describe our relation with our manager.
_PRIVATE_VARIABLES = (MANAGER_NOTIFY_SOCKET, "WATCHDOG_USEC", "WATCHDOG_PID")


@dataclass
class Generation:
    """One run of the command. ``state``: starting, serving, draining or failed."""

    number: int
    pid: int
    state: str
    deadline: float | None = None  # ready deadline (starting), SIGKILL time (draining, failed)
    status: int | None = None  # wait status once reaped

    def __str__(self) -> str:
        return f"generation {self.number} (pid {self.pid})"


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
    ) -> None:
        if not argv:
            raise ValueError("supervise needs a command to run")
        if len(sockets) != len(names):
            raise ValueError(f"{len(sockets)} sockets but {len(names)} names")
        if ready not in ("notify", "started"):
            raise ValueError(f"ready must be 'notify' or 'started', got {ready!r}")
        if restart not in ("on-failure", "always", "no"):
            raise ValueError(f"restart must be 'on-failure', 'always' or 'no', got {restart!r}")
        for what, value in (("ready_timeout", ready_timeout), ("drain_timeout", drain_timeout)):
            if value <= 0:
                raise ValueError(f"{what} must be positive, got {value!r}")
        self.argv = list(argv)
        self.sockets = list(sockets)
        self.names = list(names)
        self.ready_mode = ready
        self.ready_timeout = ready_timeout
        self.drain_timeout = drain_timeout
        self.restart = restart
        env = dict(os.environ if environ is None else environ)
        self._manager = env.get(NOTIFY_SOCKET) or None
        self._env = {k: v for k, v in env.items() if k not in _PRIVATE_VARIABLES}
        self._log = log or (lambda _text: None)
        self._generations: list[Generation] = []
        self._count = 0
        self._serving: Generation | None = None
        self._reload_again = False
        self._stopping: int | None = None  # the stop signal, once received
        self._exit: int | None = None  # set: the loop ends with this status
        self._final: int | None = None  # the serving generation's status, once it is gone
        self._deaths: list[float] = []
        self._announced = False

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Start the first generation and supervise until done; returns the exit status."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        handled = (signal.SIGHUP, signal.SIGCHLD, *_STOP_SIGNALS, *_FORWARD_SIGNALS)
        previous = {sig: signal.signal(sig, _noop) for sig in handled}
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        try:
            with ReadinessSocket() as readiness:
                self._readiness = readiness
                self._start()
                while self._exit is None:
                    self._step(wake_r, readiness)
            return self._exit
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            wake_r.close()
            wake_w.close()
            self._kill_all(signal.SIGKILL)

    def _step(self, wake: socket.socket, readiness: ReadinessSocket) -> None:
        timeout = self._next_timeout()
        with contextlib.suppress(InterruptedError):
            select.select([wake.fileno(), readiness.fileno()], [], [], timeout)
        for signum in _read_signals(wake):
            self._on_signal(signum)
        for note in readiness.drain():
            self._on_notification(note)
        self._reap()
        self._check_deadlines()
        self._maybe_finish()

    def _next_timeout(self) -> float:
        deadlines = [g.deadline for g in self._generations if g.deadline is not None]
        if not deadlines:
            return 1.0  # also bounds how long a lost SIGCHLD could go unnoticed
        return max(0.0, min(1.0, min(deadlines) - time.monotonic()))

    # -- generations ---------------------------------------------------------------------------

    def _start(self) -> Generation | None:
        self._count += 1
        env = dict(self._env)
        env[NOTIFY_SOCKET] = self._readiness.address
        try:
            pid = spawn_with_sockets(self.argv, [s.fileno() for s in self.sockets], self.names, env)
        except OSError as exc:
            self._log(f"cannot start generation {self._count} ({self.argv[0]!r}): {exc}")
            if self._serving is None:
                self._exit = 127
            return None
        gen = Generation(self._count, pid, "starting", time.monotonic() + self.ready_timeout)
        self._generations.append(gen)
        self._log(f"started {gen}")
        if self.ready_mode == "started":
            self._promote(gen)
        return gen

    def reload(self) -> None:
        """Roll out a new generation (what SIGHUP does)."""
        if self._stopping is not None:
            return
        if any(g.state == "starting" for g in self._generations):
            self._reload_again = True
            self._log("a rollout is in progress; another will follow it")
            return
        self._notify_manager(f"STATUS=starting generation {self._count + 1}")
        self._start()

    def _promote(self, gen: Generation) -> None:
        old = self._serving
        gen.state, gen.deadline = "serving", None
        self._serving = gen
        if old is not None:
            old.state, old.deadline = "draining", time.monotonic() + self.drain_timeout
            _kill(old.pid, signal.SIGTERM)
            self._log(f"{gen} is ready; {old} is draining")
        else:
            self._log(f"{gen} is ready")
        if not self._announced:
            self._announced = True
            self._notify_manager(f"READY=1\nSTATUS={gen} serving")
        else:
            self._notify_manager(f"STATUS={gen} serving")
        if self._reload_again:
            self._reload_again = False
            self.reload()

    def _fail(self, gen: Generation, why: str) -> None:
        kept = f"; {self._serving} keeps serving" if self._serving else ""
        self._log(f"{gen} {why} before READY=1{kept}")
        self._notify_manager(f"STATUS={gen} failed to start: {why}")

    # -- events --------------------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            return  # every step reaps
        if signum == signal.SIGHUP:
            self.reload()
        elif signum in _STOP_SIGNALS:
            self.stop(signum)
        elif self._serving is not None:
            _kill(self._serving.pid, signum)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Forward *signum* to every generation; exit once they are gone (what SIGTERM does)."""
        if self._stopping is None:
            self._log(f"stopping on {signal.Signals(signum).name}")
            self._notify_manager("STOPPING=1")
        self._stopping = signum
        deadline = time.monotonic() + self.drain_timeout
        for gen in self._generations:
            _kill(gen.pid, signum)
            gen.deadline = deadline if gen.state != "failed" else gen.deadline

    def _on_notification(self, note: Notification) -> None:
        if note.pid is None:
            return
        gen = next(
            (g for g in self._generations if g.state != "failed" and belongs_to(note.pid, [g.pid])),
            None,
        )
        if gen is None:
            return
        if gen.state == "starting" and note.ready:
            self._promote(gen)
        elif gen is self._serving:
            lines = [f"{k}={v}" for k, v in note.fields.items() if k in _FORWARD_KEYS]
            if lines:
                self._notify_manager("\n".join(lines))

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            gen = next((g for g in self._generations if g.pid == pid), None)
            if gen is not None:  # anything else: an orphan re-parented to us as PID 1
                self._exited(gen, status)

    def _exited(self, gen: Generation, status: int) -> None:
        gen.status = status
        self._generations.remove(gen)
        how = describe_wait_status(status)
        if gen.state == "starting":
            self._fail(gen, how)
            if self._serving is None and self._stopping is None:
                self._exit = _exit_code(status) or 1
            elif self._reload_again:
                self._reload_again = False
                self.reload()
        elif gen.state in ("draining", "failed"):
            self._log(f"{gen} {how}")
        elif gen is self._serving:
            self._serving = None
            if self._stopping is not None:
                self._final = _exit_code(status)
                self._log(f"{gen} {how}")
            else:
                self._died(gen, status, how)

    def _died(self, gen: Generation, status: int, how: str) -> None:
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
        clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        restart = self.restart == "always" or (self.restart == "on-failure" and not clean)
        if restart and len(self._deaths) > RESTART_BURST:
            self._log(f"{gen} {how}; {len(self._deaths)} deaths in {RESTART_WINDOW:g} s, giving up")
            restart = False
        if not restart:
            self._log(f"{gen} {how}; stopping")
            self.stop(signal.SIGTERM)
            self._final = _exit_code(status)
            return
        self._log(f"{gen} {how}; starting a replacement")
        starting = [g for g in self._generations if g.state == "starting"]
        if not starting:
            self._start()

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for gen in list(self._generations):
            if gen.deadline is None or now < gen.deadline:
                continue
            if gen.state == "starting" and self._stopping is None:
                self._fail(gen, f"sent no READY=1 within {self.ready_timeout:g} s; stopping it")
                gen.state, gen.deadline = "failed", now + _KILL_GRACE
                _kill(gen.pid, signal.SIGTERM)
                if self._reload_again:
                    self._reload_again = False
                    self.reload()
            else:
                self._log(f"{gen} still running after its deadline; sending SIGKILL")
                gen.deadline = None
                _kill(gen.pid, signal.SIGKILL)

    def _maybe_finish(self) -> None:
        if self._exit is not None or self._stopping is None or self._generations:
            return
        self._exit = self._final if self._final is not None else 128 + self._stopping

    def _kill_all(self, signum: int) -> None:
        for gen in self._generations:
            _kill(gen.pid, signum)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(gen.pid, 0)
        self._generations.clear()

    def _notify_manager(self, state: str) -> None:
        if self._manager is None:
            return
        try:
            notify(state, environ={NOTIFY_SOCKET: self._manager})
        except NotifyError as exc:
            self._log(str(exc))


def _noop(signum: int, frame: object) -> None:
    """The Python-level handler; the wakeup fd carries the signal number to the loop."""


def _read_signals(wake: socket.socket) -> list[int]:
    out: list[int] = []
    while True:
        try:
            data = wake.recv(256)
        except (BlockingIOError, InterruptedError):
            return out
        if not data:
            return out
        out.extend(data)


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _exit_code(status: int) -> int:
    """The shell's view: the exit status, or 128 + N for death by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
