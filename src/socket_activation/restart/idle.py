"""When is a server idle? No connection open and none queued, for S seconds, as the kernel sees it.

:class:`IdleWatch` samples the listening sockets with
:func:`socket_activation.net.sockdiag.listener_activity` every :attr:`IdleWatch.interval`
seconds (``min(1, S/10)``); any sample that shows a queued or open connection restarts the
clock. It is idle once the samples of the last S seconds all showed nothing, and there were at
least :data:`MIN_IDLE_SAMPLES` of them in a row (one sample that happens to fall between two
requests of a steady load must not decide on its own, even when costly samples are sparse).
The same watch serves ``supervise --exit-idle-time`` (which cannot see its child's
connections) and the integrations (which stop accepting in the same event-loop step as the
last sample, so a connection cannot slip in between).

Why exiting then loses nothing: the service manager keeps its own reference to every
listening socket (systemd's ``.socket`` unit, launchd). Closing *our* references leaves the
socket listening, and connections that arrive meanwhile wait in its accept queue until the
manager starts the service again (``tests/net/test_sockdiag.py`` shows a queued connection
surviving the close of a duplicate; closing the *last* reference would reset it). That is
why idle exit needs inherited sockets: on sockets we bound ourselves it is refused.

Before it says idle, the watch confirms: :data:`CONFIRM_SAMPLES` more samples, :data:`CONFIRM_GAP`
apart, in the same call (about 30 ms; the caller's next step still follows the last sample).
The kernel sees a connection only from its arrival to the server's ``close()``: under a steady
load of one client making short requests back to back, a sample showed nothing about half the
time (measured here, 1-client loopback HTTP), so the periodic samples alone could line up on
the gaps (``tests/integration/test_idle_exit.py`` caught it about once in 20 runs); all ten
of the burst as well is a chance of about one in a thousand on top of that.

The limit, said plainly: a sample is a moment. A connection that opens and closes between two
samples is not seen, so a service whose only traffic is requests shorter than the interval
can be judged idle up to S seconds early. Nothing is lost then (the exit drains, and the next
connection starts the service again), it only costs a start. Each sample walks the kernel's
TCP table, so its cost grows with the host's TCP sockets, ``TIME_WAIT`` ones included
(``benchmarks/idle_check.py``: 40 us for a Unix listener; for TCP, measured from well under a
millisecond to 27 ms on a host with 110,000 sockets in ``TIME_WAIT``). The watch keeps its
sampling below :data:`MAX_DUTY` of one CPU: after a sample that took *t*, the next waits at
least ``t / MAX_DUTY`` (the exit then comes up to that much later than S).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence

from ..net.sockdiag import Activity, SockDiagError, check_watchable, listener_activity

__all__ = [
    "CONFIRM_GAP",
    "CONFIRM_SAMPLES",
    "MAX_DUTY",
    "MIN_IDLE_SAMPLES",
    "IdleWatch",
    "SockDiagError",
    "check_interval",
]

_MAX_INTERVAL = 1.0
_MIN_INTERVAL = 0.05
# the share of one CPU sampling may take: the interval stretches after a costly sample
MAX_DUTY = 0.01
# consecutive idle samples needed, however long S has passed
MIN_IDLE_SAMPLES = 5
# the confirmation burst before "idle": this many more samples, this far apart (seconds)
CONFIRM_SAMPLES = 10
CONFIRM_GAP = 0.002


def check_interval(seconds: float) -> float:
    """How often a watch for *seconds* of idleness samples: S/10, within [0.05, 1] s."""
    return max(_MIN_INTERVAL, min(_MAX_INTERVAL, seconds / 10))


class IdleWatch:
    """Decides when *sockets* have been idle for *seconds*; feed it :meth:`sample` calls.

    Raises :class:`SockDiagError` at once for a socket the kernel cannot describe (UDP,
    anything but a listening TCP or Unix stream socket), naming its fd.
    """

    def __init__(
        self,
        sockets: Sequence[socket.socket],
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[socket.socket], Activity] = listener_activity,
        cost_clock: Callable[[], float] = time.perf_counter,
        pause: Callable[[float], object] = time.sleep,
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"the idle time must be a positive number of seconds, got {seconds!r}")
        if not sockets:
            raise ValueError("no listening socket to watch for idleness")
        self.sockets = list(sockets)
        self.seconds = seconds
        self.interval = check_interval(seconds)
        self._clock = clock
        self._probe = probe
        self._cost_clock = cost_clock
        self._pause = pause
        self.cost = 0.0  # seconds the last sample took
        for sock in self.sockets:  # fail now, with the fd, rather than at the first sample
            check_watchable(sock)
        now = clock()
        self._busy_at = now  # the last moment a sample saw a connection (or the start)
        self._quiet = 0  # idle samples in a row
        self._next = now + self.interval
        self.last: tuple[Activity, ...] = ()

    @property
    def next_sample(self) -> float:
        """The clock time the next :meth:`sample` is due."""
        return self._next

    def busy(self) -> None:
        """Restart the clock (a rollout, a connection seen some other way); the next sample
        is due an interval from now."""
        self._busy_at = self._clock()
        self._quiet = 0
        self._next = max(self._next, self._busy_at + self.interval)

    def sample(self) -> bool:
        """Look at the sockets now; True once they have been idle for :attr:`seconds` and the
        confirmation burst saw nothing either."""
        now = self._clock()
        if not self._probe_all():
            self._busy_at = now
            self._quiet = 0
            return False
        self._quiet += 1
        if self._quiet < MIN_IDLE_SAMPLES or now - self._busy_at < self.seconds:
            return False
        for _ in range(CONFIRM_SAMPLES):
            self._pause(CONFIRM_GAP)
            if not self._probe_all():
                self.busy()
                return False
        return True

    def _probe_all(self) -> bool:
        """One sample of every socket (kept in :attr:`last`); True when all are idle. The next
        sample is due an interval later, or later still after a costly one."""
        started = self._cost_clock()
        self.last = tuple(self._probe(sock) for sock in self.sockets)
        self.cost = self._cost_clock() - started
        self._next = self._clock() + max(self.interval, self.cost / MAX_DUTY)
        return all(activity.idle for activity in self.last)

    def due(self) -> bool:
        """:meth:`sample` when its time has come; False before."""
        return self._clock() >= self._next and self.sample()

    def describe(self) -> str:
        """The last sample in words, for logs."""
        seen = ", ".join(f"queued {a.queued}, open {a.connections}" for a in self.last)
        return f"last sample: {seen or 'none'}, took {self.cost * 1000:.1f} ms"
