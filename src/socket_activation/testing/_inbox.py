"""The messages a server under test sends to its ``NOTIFY_SOCKET``: kept in order, awaited.

The socket is a :class:`~socket_activation.restart.readiness.ReadinessSocket` (credentials
checked by the kernel, so each message names its sender's pid). :meth:`Inbox.wait` waits for a
message while watching the process: its exit ends the wait at once.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._process import describe_returncode
from .errors import ServerExitedError, ServerNotReadyError

if TYPE_CHECKING:
    from ..restart.notification import Notification
    from ._process import Child

__all__ = ["ROLLOUT", "Inbox"]

# supervise's own STATUS= after a rollout (restart/supervisor.py), told apart from the
# STATUS= lines of the command that it forwards
ROLLOUT = re.compile(r"generation (\d+) \(pid (\d+)\) (serving|failed to start: .*)")
# the longest a single wait sleeps before looking whether the process exited
_SLICE = 0.05


class Inbox:
    """Every message received, in order (``notes``), and the serving generation's number
    under supervise (``generation``). Close it when done."""

    def __init__(self) -> None:
        from ..restart.readiness import ReadinessSocket

        self._socket = ReadinessSocket()
        self.address = self._socket.address
        self.notes: list[Notification] = []
        self.generation = 0

    def close(self) -> None:
        self._socket.close()

    def collect(self) -> list[Notification]:
        """Take in what has arrived; every message so far."""
        for note in self._socket.drain():
            self.notes.append(note)
            found = ROLLOUT.fullmatch(note.fields.get("STATUS", ""))
            if found and found[3] == "serving":
                self.generation = max(self.generation, int(found[1]))
        return self.notes

    def status(self) -> str | None:
        """The last ``STATUS=`` text received, or None."""
        for note in reversed(self.collect()):
            if "STATUS" in note.fields:
                return note.fields["STATUS"]
        return None

    def wait(
        self,
        wanted: Callable[[Notification], bool],
        timeout: float,
        what: str,
        since: int,
        *,
        child: Child | None,
        name: str,
        stderr: Callable[[], str],
    ) -> int:
        """The index of the first message from *since* on that is *wanted*, waiting up to
        *timeout* s; :class:`ServerExitedError` if *child* exits first (None: its exit does
        not end the wait), :class:`ServerNotReadyError` on timeout (both quote *stderr*)."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        index = since
        while True:
            self.collect()
            while index < len(self.notes):
                index += 1
                if wanted(self.notes[index - 1]):
                    return index - 1
            returncode = None if child is None else child.poll()
            if child is not None and returncode is not None:
                raise ServerExitedError(
                    f"{name} (pid {child.pid}) {describe_returncode(returncode)} before {what}",
                    returncode=returncode,
                    stderr=stderr(),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                status = self.status()
                last = f" (its last STATUS= was {status!r})" if status else ""
                who = name if child is None else f"{name} (pid {child.pid})"
                raise ServerNotReadyError(
                    f"{who} sent no {what} within {timeout:g} s{last}",
                    stderr=stderr(),
                )
            select.select([self._socket], [], [], min(remaining, _SLICE))
