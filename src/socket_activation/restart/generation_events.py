"""A generation of a supervised command, and the events :class:`~.generations.Generations` returns.

:class:`Generation` is one run of the command as the bookkeeping
(:mod:`~socket_activation.restart.generations`) keeps it: its number, pid, state and deadlines.
Every method of :class:`~.generations.Generations` that can change the state returns the events
the supervisor's loop must act on:

- :class:`Outcome`: how a rollout (one starting generation) ended: ``ready``, ``exited`` (with
  its wait status), ``timed-out``, or ``not-started`` (the spawn failed);
- :class:`Exited`: a generation past its rollout (serving, draining or failed) was reaped;
- :class:`Message`: a notification from the serving generation other than its ``READY=1``.

:data:`Event` is any of the three. They are records: nothing here acts on a process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from .notification import Notification
from .priority import Lowered
from .wait_status import describe_wait_status, exit_code

__all__ = ["Event", "Exited", "Generation", "Message", "Outcome"]


@dataclass
class Generation:
    """One run of the command. ``state``: starting, serving, draining or failed."""

    number: int
    pid: int
    state: str
    deadline: float | None = None  # ready deadline (starting), SIGKILL time (draining, failed)
    status: int | None = None  # wait status once reaped
    lowered: Lowered | None = None  # started at a lower priority: restored once ready
    escalate_at: float | None = None  # still starting at SCHED_IDLE then: moved to nice

    def __str__(self) -> str:
        return f"generation {self.number} (pid {self.pid})"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the rollout of generation *number* ended; ``reason`` says it in words."""

    number: int
    result: Literal["ready", "exited", "timed-out", "not-started"]
    generation: Generation | None = None  # None when it could not be started
    status: int | None = None  # the wait status ("exited")
    replaced: Generation | None = None  # "ready": the generation that now drains
    reason: str = ""  # "exited with status 3", "sent no READY=1 within 1 s; stopping it", ...

    @property
    def ready(self) -> bool:
        return self.result == "ready"

    @property
    def exit_code(self) -> int | None:
        """The shell's view of ``status`` (``exited``), else None."""
        return None if self.status is None else exit_code(self.status)


@dataclass(frozen=True, slots=True)
class Exited:
    """A generation past its rollout was reaped; its ``state`` is the one it died in."""

    generation: Generation
    status: int  # the wait status

    @property
    def how(self) -> str:
        """``exited with status 0`` / ``was killed by SIGKILL``."""
        return describe_wait_status(self.status)

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)


@dataclass(frozen=True, slots=True)
class Message:
    """A notification from the serving generation (anything but the ``READY=1`` that made it so)."""

    generation: Generation
    note: Notification


Event: TypeAlias = Outcome | Exited | Message
