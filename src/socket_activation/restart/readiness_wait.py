"""Waiting on the readiness socket for one child's ``READY=1``, or its exit, or the timeout.

:func:`wait_for_ready` is the loop behind
:meth:`~socket_activation.restart.readiness.ReadinessSocket.wait_ready`: it follows the child
and any pid it names with ``MAINPID=``, keeps its last ``STATUS=``, and wakes on a datagram, on
the child's exit (a pidfd on Linux >= 5.3, else a poll every :data:`_POLL_INTERVAL` s) or on a
deadline. It ends in the child's ``READY=1``, a :class:`ChildExitedError` (the child reaped) or
a :class:`ReadyTimeoutError` (the child left running).
"""

from __future__ import annotations

import os
import select
import time

from .credentials import belongs_to
from .wait_status import describe_wait_status

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable

    from .notification import Notification
    from .readiness import ReadinessSocket

__all__ = ["ChildExitedError", "ReadyTimeoutError", "wait_for_ready"]

# while waiting without a pidfd, how often to look whether the child has exited
_POLL_INTERVAL = 0.02


class ChildExitedError(Exception):
    """The process waited for exited before ``READY=1``; ``status`` is its wait status."""

    def __init__(self, pid: int, status: int, last_status: str | None) -> None:
        self.pid = pid
        self.status = status
        self.last_status = last_status
        super().__init__(f"process {pid} {describe_wait_status(status)} before READY=1")


class ReadyTimeoutError(Exception):
    """No ``READY=1`` arrived in time; ``last_status`` is the last ``STATUS=`` seen, if any."""

    def __init__(self, pid: int, timeout: float, last_status: str | None) -> None:
        self.pid = pid
        self.timeout = timeout
        self.last_status = last_status
        super().__init__(f"process {pid} sent no READY=1 within {timeout:g} s")


def wait_for_ready(
    readiness: ReadinessSocket,
    pid: int,
    timeout: float,
    *,
    on_message: Callable[[Notification], None] | None = None,
    after: tuple[float, Callable[[], object]] | None = None,
) -> Notification:
    """:meth:`~socket_activation.restart.readiness.ReadinessSocket.wait_ready` on *readiness*;
    see there."""
    watched = {pid}
    last_status: str | None = None
    deadline = time.monotonic() + timeout
    late = None if after is None else time.monotonic() + after[0]
    pidfd = _open_pidfd(pid)
    try:
        while True:
            for note in readiness.drain():
                if note.pid is not None and belongs_to(note.pid, watched):
                    if "STATUS" in note.fields:
                        last_status = note.fields["STATUS"]
                    if note.mainpid is not None:
                        watched.add(note.mainpid)
                    if note.ready:
                        return note
                if on_message is not None:
                    on_message(note)
            status = _reap(pid)
            if status is not None:
                raise ChildExitedError(pid, status, last_status)
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                raise ReadyTimeoutError(pid, timeout, last_status)
            if late is not None and after is not None:
                if now >= late:
                    late = None
                    after[1]()
                else:
                    remaining = min(remaining, late - now)
            waitables: list[int] = [readiness.fileno()]
            if pidfd is not None:
                waitables.append(pidfd)
                wait = remaining
            else:
                wait = min(remaining, _POLL_INTERVAL)
            select.select(waitables, [], [], wait)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _open_pidfd(pid: int) -> int | None:
    """A pidfd that turns readable when *pid* exits (Linux >= 5.3), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


def _reap(pid: int) -> int | None:
    """*pid*'s wait status if it has exited (reaping it), else None."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        # reaped elsewhere (an application's SIGCHLD handler): it is gone, status unknown
        return 255 << 8
    return status if reaped == pid else None
