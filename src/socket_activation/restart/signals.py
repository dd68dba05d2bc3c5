"""Signal plumbing of ``supervise``: turn the signals it handles into numbers read by its loop.

:class:`SignalWake` installs a do-nothing Python handler for each signal the supervisor handles
and points :func:`signal.set_wakeup_fd` at one end of a socket pair; the loop registers the other
end with its selector and reads the signal numbers with :meth:`SignalWake.read`. Leaving the
``with`` block puts the previous handlers and wakeup fd back and closes the pair.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

__all__ = ["FORWARD_SIGNALS", "HANDLED_SIGNALS", "STOP_SIGNALS", "SignalWake"]

# Signals that stop everything (forwarded as they are) and signals passed to the serving child.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
FORWARD_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)
HANDLED_SIGNALS = (signal.SIGHUP, signal.SIGCHLD, *STOP_SIGNALS, *FORWARD_SIGNALS)

# what signal.signal() returns and takes back
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class SignalWake:
    """The wake pipe: while entered, each handled signal writes its number to :attr:`socket`.

    Must be entered from the main thread (Python installs signal handlers only there).
    """

    def __init__(self) -> None:
        self.socket, self._write = socket.socketpair()
        self.socket.setblocking(False)
        self._write.setblocking(False)
        self._previous: dict[int, _Handler] = {}
        self._old_wakeup = -1

    def __enter__(self) -> SignalWake:
        for sig in HANDLED_SIGNALS:
            self._previous[sig] = signal.signal(sig, _noop)
        self._old_wakeup = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.set_wakeup_fd(self._old_wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self.socket.close()
        self._write.close()

    def read(self) -> list[int]:
        """The signal numbers delivered since the last call, in order (never blocks)."""
        out: list[int] = []
        while True:
            try:
                data = self.socket.recv(256)
            except (BlockingIOError, InterruptedError):
                return out
            if not data:
                return out
            out.extend(data)


def _noop(signum: int, frame: object) -> None:
    """The Python-level handler; the wakeup fd carries the signal number to the loop."""
