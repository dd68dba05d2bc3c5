"""Everything that asks a supervisor to reload, and everyone waiting for the answer.

:class:`ReloadChannel` plugs three things into the supervisor's loop:

- the control socket (:mod:`~socket_activation.restart.control`): ``socket-activation reload``
  requests, each answered with its rollout's outcome;
- a file watcher (``supervise --watch``, :mod:`~socket_activation.restart.watch`): changes are
  collected until ``debounce`` seconds pass without another (an editor's save is several
  events, a checkout thousands), then one rollout starts;
- the :class:`~socket_activation.restart.rollout.RolloutTracker`, which the supervisor tells
  what became of each rollout.

Neither the control socket nor the watcher is essential: if the socket's name is taken (see
the control module), the supervisor logs it and goes on serving; ``SIGHUP`` still works.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections.abc import Callable, Sequence

from .control import ControlServer
from .release import socket_inodes
from .rollout import HANDOVER_POLL, RolloutTracker

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from .watch import Watcher

__all__ = ["DEFAULT_DEBOUNCE", "ReloadChannel"]

# quiet time after the last file change before a --watch rollout starts
DEFAULT_DEBOUNCE = 0.1


class ReloadChannel:
    """See the module docstring. *reload* starts a rollout (the supervisor's ``reload``)."""

    def __init__(
        self,
        sockets: Sequence[socket.socket],
        *,
        notify: Callable[[str], None],
        reload: Callable[[], None],
        log: Callable[[str], None],
        watch: Sequence[str | os.PathLike[str]] = (),
        debounce: float = DEFAULT_DEBOUNCE,
        polling: bool = False,
    ) -> None:
        self.tracker = RolloutTracker(sorted(socket_inodes(sockets)), notify)
        self._reload = reload
        self._log = log
        self._watch_paths = list(watch)
        self._debounce = debounce
        self._polling = polling
        self._server: ControlServer | None = None
        self._watcher: Watcher | None = None
        self._changed: list[str] = []
        self._due: float | None = None

    @property
    def control_address(self) -> str | None:
        """The control socket's name (``@socket-activation/control/...``), if it is open."""
        return self._server.name if self._server is not None else None

    def open(self, selector: selectors.BaseSelector) -> None:
        """Bind the control socket and start watching; register both with *selector*."""
        try:
            self._server = ControlServer()
        except OSError as exc:
            self._log(
                f"no control socket ({exc}); 'socket-activation reload' cannot reach this "
                "process, SIGHUP still reloads"
            )
        else:
            selector.register(self._server.filenos()[0], selectors.EVENT_READ, self._on_control)
        if self._watch_paths:
            from .watch import open_watcher  # inotify through ctypes: only supervise --watch

            self._watcher = open_watcher(self._watch_paths, polling=self._polling)
            fd = self._watcher.fileno()
            if fd is not None:
                selector.register(fd, selectors.EVENT_READ, self._on_watch)
            shown = ", ".join(os.fspath(p) for p in self._watch_paths)
            self._log(f"watching {shown} ({type(self._watcher).__name__}); edits reload")

    def close(self) -> None:
        self.tracker.abort("supervise stopped before the reload finished")
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def timeout(self) -> float | None:
        """How soon :meth:`step` must run again, or None."""
        waits: list[float] = []
        handover = self.tracker.timeout()
        if handover is not None:
            waits.append(handover)
        if self._server is not None and len(self._server.filenos()) > 1:
            waits.append(HANDOVER_POLL)  # a client connected; its request is on the way
        if self._due is not None:
            waits.append(max(0.0, self._due - time.monotonic()))
        if self._watcher is not None and (polled := self._watcher.timeout()) is not None:
            waits.append(polled)
        return min(waits) if waits else None

    def step(self) -> None:
        """Every loop step: requests that arrived, handovers done, a quiet watch to act on."""
        if self._server is not None and len(self._server.filenos()) > 1:
            self._on_control()
        if self._watcher is not None and self._watcher.fileno() is None:
            self._on_watch()  # polling
        if self._due is not None and time.monotonic() >= self._due:
            changed, self._changed, self._due = self._changed, [], None
            more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
            self._log(f"changed: {changed[0]}{more}; reloading")
            self._reload()
        self.tracker.poll()

    def _on_control(self) -> None:
        assert self._server is not None
        requests = self._server.poll()
        for request in requests:
            self._log(f"reload requested by pid {request.peer.pid} (uid {request.peer.uid})")
            self.tracker.request(request)
        if requests:
            self._reload()

    def _on_watch(self) -> None:
        assert self._watcher is not None
        changes = self._watcher.changes()
        if changes:
            self._changed.extend(p for p in changes if p not in self._changed)
            self._due = time.monotonic() + self._debounce
