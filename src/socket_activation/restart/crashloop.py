"""The restart policy of ``supervise``: whether a serving generation that died gets a successor.

:class:`RestartPolicy` holds the ``restart=`` mode (``on-failure``, ``always``, ``no``) and the
times of recent deaths; more than :data:`RESTART_BURST` deaths within :data:`RESTART_WINDOW`
seconds is a crash loop, and the supervisor gives up instead of restarting once more.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RESTART_BURST", "RESTART_MODES", "RESTART_WINDOW", "RestartPolicy"]

# A crash loop: this many unexpected deaths within RESTART_WINDOW seconds ends the supervisor.
RESTART_BURST = 5
RESTART_WINDOW = 10.0
RESTART_MODES = ("on-failure", "always", "no")


class RestartPolicy:
    """Decides, death by death, whether to start a replacement; see the module docstring."""

    def __init__(self, mode: str, clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in RESTART_MODES:
            raise ValueError(f"restart must be 'on-failure', 'always' or 'no', got {mode!r}")
        self.mode = mode
        self._clock = clock
        self._deaths: list[float] = []

    def died(self, exit_code: int) -> tuple[bool, int]:
        """Record a death now; returns whether the mode asks for a restart and the deaths in
        the window. The caller gives up when :meth:`crash_loop` says so."""
        now = self._clock()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
        clean = exit_code == 0
        wanted = self.mode == "always" or (self.mode == "on-failure" and not clean)
        return wanted, len(self._deaths)

    @staticmethod
    def crash_loop(deaths: int) -> bool:
        """True when *deaths* within :data:`RESTART_WINDOW` are too many to restart again."""
        return deaths > RESTART_BURST
