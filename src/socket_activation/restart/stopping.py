"""When ``supervise`` stops on its own, or holds a stop back, and the status it then exits with.

:class:`StopPolicy` joins the two ways a stop is not simply "a signal came":

- ``shutdown_delay`` (:class:`~socket_activation.restart.health.ShutdownDelay`): the first
  ``SIGTERM`` is held back for that many seconds, while the generation keeps serving;
- ``exit_idle_time`` (:class:`~socket_activation.restart.idle.IdleWatch`): no connection open
  or queued for that long stops the supervisor, which then exits 0 (the service manager starts
  it again on the next connection).

The supervisor asks it, every step, whether a stop is due now; the policy logs why and tells
the service manager, and the supervisor does the stopping.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from .generations import Generations
from .health import ShutdownDelay
from .idle import IdleWatch

__all__ = ["StopPolicy"]


class StopPolicy:
    """See the module docstring. *idle* is ``None`` without ``exit_idle_time``; *log* takes
    progress lines, *notify* messages for the service manager."""

    def __init__(
        self,
        delay: ShutdownDelay,
        idle: IdleWatch | None,
        *,
        log: Callable[[str], None],
        notify: Callable[[str], None],
    ) -> None:
        self.delay = delay
        self.idle = idle
        self._log = log
        self._notify = notify
        self._idle_exit = False

    @property
    def holding(self) -> bool:
        """True while a ``SIGTERM`` is held back by the shutdown delay."""
        return self.delay.pending

    def deadlines(self) -> list[float | None]:
        """The clock times the policy wants to look again (``None``: no such time)."""
        return [self.delay.deadline] + ([self.idle.next_sample] if self.idle else [])

    def hold(self, signum: int, stopping: bool) -> bool:
        """On a stop signal: True when it is held back (the first ``SIGTERM``, with a delay)."""
        if signum != signal.SIGTERM or stopping or not self.delay.hold():
            return False
        self._log(f"SIGTERM: not ready; serving {self.delay.seconds:g} s more, then stopping")
        self._notify("STATUS=shutting down: not ready, serving until the delay ends")
        return True

    def due(self, generations: Generations, exiting: bool) -> bool:
        """True when the supervisor should stop now: a held-back stop is due, or it is idle."""
        stopping = generations.stopping is not None
        if self.delay.due() and not stopping:
            self._log(f"shutdown delay of {self.delay.seconds:g} s is over")
            return True
        idle = self.idle
        if idle is None or stopping or exiting:
            return False
        if generations.rolling_out or generations.serving is None:
            idle.busy()  # a rollout or a restart is activity
            return False
        if not idle.due():
            return False
        self._idle_exit = True
        self._log(
            f"no connection for {idle.seconds:g} s ({idle.describe()}); exiting until the next one"
        )
        self._notify(f"STATUS=idle for {idle.seconds:g} s; exiting")
        return True

    def exit_status(self, final: int | None, stopping: int) -> int:
        """The supervisor's status once every generation is gone after a stop on *stopping*:
        the serving generation's *final* status, else ``128 + stopping``."""
        code = final if final is not None else 128 + stopping
        if self._idle_exit and code in (0, 128 + signal.SIGTERM):
            return 0  # our own stop, obeyed: an idle exit is a success
        return code
