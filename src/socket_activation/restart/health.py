"""Health endpoints for ``supervise``: ``/livez`` and ``/readyz`` for Kubernetes probes.

:class:`Health` is what the endpoints say. The supervisor's loop (the main thread) tells it
what happened: :meth:`Health.observe` after every step (which generation serves, whether the
stop began), :meth:`Health.notified` for each notification of the serving generation
(``WATCHDOG=1``, ``WATCHDOG_USEC=``, ``WATCHDOG=trigger``), :meth:`Health.shutting_down` on
``SIGTERM``. :class:`HealthServer` answers HTTP on its own threads from that state, so a probe
is answered while a generation is busy or hung, and while the loop waits for anything
(:mod:`.health_server`; this module is pure state and rules, so a ``supervise`` without
``--health`` does not import ``http.server``).

- ``/livez``: 200 while a generation serves; 503 when none does (first start-up, after a crash
  until the replacement is ready) or when the serving generation uses a watchdog (it was
  started with ``WATCHDOG_USEC``, from ``--watchdog``, or sent ``WATCHDOG_USEC=``) and sent no
  ``WATCHDOG=1`` for that long, or sent ``WATCHDOG=trigger``.
- ``/readyz``: 200 only once a generation said ``READY=1`` and serves; 503 during the first
  start-up, while nothing serves, and from ``SIGTERM`` on (before the stop itself when a
  ``--shutdown-delay`` holds it back: :class:`ShutdownDelay`).

Each answer is a JSON object: ``status`` (``ok`` or ``unavailable``), ``reason`` in words, and
the serving ``generation`` and ``pid`` (or null).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .generation_events import Generation

__all__ = ["Health", "Probe", "ShutdownDelay"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One endpoint's answer: the HTTP status and why."""

    ok: bool
    reason: str
    generation: int | None = None
    pid: int | None = None

    @property
    def status(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> bytes:
        fields = {
            "status": "ok" if self.ok else "unavailable",
            "reason": self.reason,
            "generation": self.generation,
            "pid": self.pid,
        }
        return (json.dumps(fields) + "\n").encode()


class Health:
    """The supervisor's state as the probes see it; every method is thread-safe.

    ``watchdog_usec``: the interval every generation starts with (``--watchdog``); a generation
    may set its own with ``WATCHDOG_USEC=``. *clock* is ``time.monotonic`` (a seam for tests).
    """

    def __init__(
        self,
        *,
        watchdog_usec: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if watchdog_usec is not None and watchdog_usec <= 0:
            raise ValueError(f"watchdog_usec must be positive, got {watchdog_usec!r}")
        self.watchdog_usec = watchdog_usec
        self._clock = clock
        self._lock = threading.Lock()
        self._serving: tuple[int, int] | None = None  # (number, pid)
        self._stopping = False
        self._usec: int | None = watchdog_usec
        self._last_ping = 0.0
        self._triggered = False

    def environment(self) -> dict[str, str]:
        """What every generation's environment gets for the watchdog (``WATCHDOG_USEC``)."""
        return {} if self.watchdog_usec is None else {"WATCHDOG_USEC": str(self.watchdog_usec)}

    # -- what the loop reports -----------------------------------------------------------------

    def observe(self, serving: Generation | None, stopping: bool) -> None:
        """After each step: *serving* is the serving generation (or None)."""
        with self._lock:
            current = None if serving is None else (serving.number, serving.pid)
            if current != self._serving:  # a new generation serves: its own watchdog
                self._serving = current
                self._usec = self.watchdog_usec
                self._last_ping = self._clock()
                self._triggered = False
            if stopping:
                self._stopping = True

    def notified(self, number: int, fields: Mapping[str, str]) -> None:
        """A notification of generation *number*; only the serving one's count."""
        with self._lock:
            if self._serving is None or self._serving[0] != number:
                return
            watchdog = fields.get("WATCHDOG")
            usec = fields.get("WATCHDOG_USEC")
            if usec is not None and usec.isdigit() and int(usec) > 0:
                self._usec = int(usec)
                self._last_ping = self._clock()
            if watchdog == "1":
                self._last_ping = self._clock()
            elif watchdog == "trigger":
                self._triggered = True

    def shutting_down(self) -> None:
        """``SIGTERM`` arrived: readiness is over for good."""
        with self._lock:
            self._stopping = True

    # -- what the probes see -------------------------------------------------------------------

    def livez(self) -> Probe:
        with self._lock:
            if self._serving is None:
                return Probe(False, "no generation serves")
            number, pid = self._serving
            if self._triggered:
                return Probe(False, f"generation {number} sent WATCHDOG=trigger", number, pid)
            if self._usec is not None:
                silent = self._clock() - self._last_ping
                if silent * 1e6 > self._usec:
                    why = (
                        f"generation {number} sent no WATCHDOG=1 for {silent:.1f} s "
                        f"(watchdog {self._usec / 1e6:g} s)"
                    )
                    return Probe(False, why, number, pid)
            return Probe(True, f"generation {number} serves", number, pid)

    def readyz(self) -> Probe:
        with self._lock:
            serving = self._serving
            if self._stopping:
                number, pid = serving if serving else (None, None)
                return Probe(False, "shutting down", number, pid)
            if serving is None:
                return Probe(False, "no generation is ready")
            number, pid = serving
            return Probe(True, f"generation {number} is ready", number, pid)


class ShutdownDelay:
    """``--shutdown-delay S``: the first ``SIGTERM`` turns readiness off and holds the stop back.

    Kubernetes removes a terminating pod from its Service's endpoints asynchronously; requests
    keep arriving for a moment. Serving on for *seconds* after readiness turned 503, and only
    then draining, lets those requests succeed.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError(f"shutdown delay must not be negative, got {seconds!r}")
        self.seconds = seconds
        self._clock = clock
        self.deadline: float | None = None  # when the held-back stop is due

    @property
    def pending(self) -> bool:
        """True between the first ``SIGTERM`` and the stop it holds back."""
        return self.deadline is not None

    def hold(self) -> bool:
        """On a stop signal: True when this one is held back (the first, with a delay)."""
        if self.seconds <= 0 or self.deadline is not None:
            self.deadline = None
            return False
        self.deadline = self._clock() + self.seconds
        return True

    def due(self) -> bool:
        """True once, when the held-back stop should happen now."""
        if self.deadline is None or self._clock() < self.deadline:
            return False
        self.deadline = None
        return True
