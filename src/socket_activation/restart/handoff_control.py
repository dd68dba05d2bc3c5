"""``socket-activation reload`` for a server that upgrades itself in place (the handoff).

:func:`serve_reload_requests` starts a daemon thread that listens on this process's control
socket (:mod:`socket_activation.restart.control`). Each request runs
:meth:`Upgrader.upgrade() <socket_activation.restart.handoff.Upgrader.upgrade>`; on success
*on_upgraded* is called (the application stops accepting, drains and exits, as after any
upgrade) and the client is told the new pid together with the inodes of the listening sockets,
so that it can wait, from outside, until this process has closed them (it may exit before it
could say so). On failure the client gets :class:`~socket_activation.HandoffError`'s text and
this process keeps serving.

Every generation calls it again after start-up: ``$MAINPID`` names the new process after a
handoff, and the next ``systemctl reload`` asks that one.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable, Sequence

from .._errors import HandoffError
from .control import ControlRequest, ControlServer
from .handoff import HandoffResult, Upgrader
from .release import socket_inodes

__all__ = ["ReloadService", "serve_reload_requests"]


class ReloadService:
    """The thread answering reload requests; :meth:`close` stops it and closes the socket."""

    def __init__(
        self,
        upgrader: Upgrader,
        inodes: Sequence[int],
        on_upgraded: Callable[[HandoffResult], None],
        on_failed: Callable[[HandoffError], None] | None,
    ) -> None:
        self._upgrader = upgrader
        self._inodes = list(inodes)
        self._on_upgraded = on_upgraded
        self._on_failed = on_failed
        self.server = ControlServer()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="socket-activation-reload", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            with contextlib.suppress(InterruptedError):
                select.select([self._wake_r, *self.server.filenos()], [], [])
            if self._closed.is_set():
                return
            for request in self.server.poll():
                self._handle(request)

    def _handle(self, request: ControlRequest) -> None:
        started = time.monotonic()
        try:
            result = self._upgrader.upgrade()
        except HandoffError as exc:
            request.fail(str(exc))
            if self._on_failed is not None:
                self._on_failed(exc)
            return
        except Exception as exc:
            request.fail(f"upgrade failed: {type(exc).__name__}: {exc}; this process keeps serving")
            raise
        try:
            self._on_upgraded(result)
        finally:
            ready_ms = (time.monotonic() - started) * 1000
            request.succeed(
                f"process {result.pid} is ready after {ready_ms:.0f} ms; "
                f"process {os.getpid()} stops accepting",
                pid=result.pid,
                release={"pid": os.getpid(), "inodes": self._inodes},
            )

    def close(self) -> None:
        """Stop answering (idempotent); a request being handled is finished first."""
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(5)
        self.server.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


def serve_reload_requests(
    upgrader: Upgrader,
    *,
    on_upgraded: Callable[[HandoffResult], None],
    on_failed: Callable[[HandoffError], None] | None = None,
) -> ReloadService:
    """Answer ``socket-activation reload`` for this process through *upgrader*; see the module
    docstring. Raises ``OSError`` when the control socket cannot be bound (its name is taken)."""
    inodes = sorted(socket_inodes(upgrader.sockets))
    return ReloadService(upgrader, inodes, on_upgraded, on_failed)
