"""The handle ``activated_server`` returns: a command running on sockets the test bound.

The test binds the sockets (port 0: a free port, no races between parallel test runs) and
keeps them for the handle's life; the command gets them at fds 3.. with ``LISTEN_FDS``,
``LISTEN_FDNAMES`` and its own ``LISTEN_PID``, and ``NOTIFY_SOCKET`` names a private socket
that records every message it sends. Because the test holds the listening sockets, a client
that connects before the server is up, or while it restarts, waits in the kernel's accept queue
instead of being refused, exactly as under systemd.

With ``supervise=True`` the command runs under ``socket-activation supervise`` (which gets the
sockets and ``NOTIFY_SOCKET``), and :meth:`ActivatedServer.reload` rolls out a new generation.

This module's job is start-up and waiting: binding the sockets and starting the command
(:meth:`ActivatedServer.start`), waiting for readiness and messages, restart and reload. The
process itself (spawn, stop, logs, messages, socket addresses) is
:class:`~socket_activation.testing._handle.ServerProcess`, which :class:`ActivatedServer`
extends.
"""

from __future__ import annotations

import os
import shlex
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._handle import ServerProcess
from ._inbox import ROLLOUT
from .errors import ReloadError, ServerError

if TYPE_CHECKING:
    from ..config import ListenSpec, ServerConfig
    from ..restart.notification import Notification
    from ._process import Child

__all__ = ["ActivatedServer"]


class ActivatedServer(ServerProcess):
    """A command started as systemd would start it; see the module docstring.

    Build it with the ``activated_server`` fixture (which always ends it) or
    :meth:`start` and :meth:`close`.
    """

    # set by wait_ready for the current run; _begin_run clears it when a run starts
    _ready = False
    _ready_index = 0  # the READY=1 that wait_ready returned

    @classmethod
    def start(
        cls,
        command: Sequence[str] | str,
        *,
        listen: Sequence[str | ListenSpec | Mapping[str, Any]] | None = None,
        names: Sequence[str] | str | None = None,
        config: ServerConfig | None = None,
        unit: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        supervise: bool = False,
        supervise_args: Sequence[str] = (),
    ) -> ActivatedServer:
        """Bind the sockets (one of *listen*, *config*, *unit*) and start *command* on them.

        *command* is an argv list (a string is split like a shell would). *env* replaces the
        environment the command starts from (default: this process's); ``LISTEN_*`` and
        ``NOTIFY_SOCKET`` are always set by the plugin. ``supervise=True`` runs the command
        under ``socket-activation supervise`` with *supervise_args* (``--ready-timeout 5``...).
        Does not wait for readiness: call :meth:`wait_ready`.
        """
        from ._sockets import bind_sockets

        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise ValueError("no command to start")
        resolution = bind_sockets(listen=listen, names=names, config=config, unit=unit)
        try:
            server = cls(
                argv, resolution, env=env, cwd=cwd, supervise=supervise,
                supervise_args=supervise_args,
            )  # fmt: skip
        except BaseException:
            resolution.close()
            raise
        try:
            server.spawn()
        except BaseException:
            server.close()
            raise
        return server

    def _begin_run(self) -> None:
        self._ready = False
        super()._begin_run()

    # -- waiting -------------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 30.0) -> Notification:
        """Wait for ``READY=1`` from the process (or a descendant, or a pid it named with
        ``MAINPID=``); returns that notification (at once when it came already).

        Raises :class:`ServerExitedError` when the process exits first and
        :class:`ServerNotReadyError` (a ``TimeoutError``) after *timeout* seconds; both end
        with the tail of its stderr.
        """
        __tracebackhide__ = True  # pytest shows the error, not the plugin's frames
        if self._ready:
            return self._inbox.notes[self._ready_index]
        from ..restart.credentials import belongs_to

        watched = {self.pid}

        def ready(note: Notification) -> bool:
            if note.pid is None or not belongs_to(note.pid, watched):
                return False
            if note.mainpid is not None:
                watched.add(note.mainpid)
            return note.ready

        self._ready_index = self._wait(ready, timeout, "READY=1", self._spawn_index)
        self._ready = True
        return self._inbox.notes[self._ready_index]

    def wait_notification(
        self, key: str, value: str | None = None, *, timeout: float = 10.0
    ) -> Notification:
        """The first message with *key* (equal to *value* if given), waiting up to *timeout*
        s. Unlike :meth:`wait_ready`, the process exiting does not end the wait: a process
        it handed over to may still send it."""
        __tracebackhide__ = True
        what = f"{key}={value}" if value is not None else f"{key}="
        found = self._inbox.wait(
            lambda n: key in n.fields and value in (None, n.fields[key]),
            timeout, what, 0, child=None, name=self.name, stderr=lambda: self.stderr_tail,
        )  # fmt: skip
        return self._inbox.notes[found]

    def restart(self, timeout: float = 30.0) -> Notification:
        """Stop the process and start it again on the same sockets, then wait for READY=1.

        Connections made meanwhile wait in the accept queue of the sockets the test holds.
        """
        __tracebackhide__ = True
        self.stop()
        self.spawn()
        return self.wait_ready(timeout)

    def reload(self, timeout: float = 30.0) -> Notification:
        """Reload: SIGHUP, then wait until it is done; returns the notification that said so.

        Under ``supervise`` this is a rollout: done when supervise reports the new generation
        serving; :class:`ReloadError` when the new generation failed (the old one keeps
        serving) or supervise exited. Without supervise it is systemd's ``Type=notify-reload``
        protocol: the process must send ``RELOADING=1`` and then ``READY=1``.
        """
        __tracebackhide__ = True
        self.wait_ready(timeout)
        start = len(self.notifications)
        self._child_or_fail().signal(signal.SIGHUP)
        if not self.supervised:
            return self._wait_notify_reload(start, timeout)
        serving = self._inbox.generation

        def rolled_out(note: Notification) -> bool:
            found = ROLLOUT.fullmatch(note.fields.get("STATUS", ""))
            return note.pid == self.pid and found is not None and int(found[1]) > serving

        try:
            note = self._inbox.notes[self._wait(rolled_out, timeout, "a new generation", start)]
        except ServerError as exc:
            raise ReloadError(str(exc).split("\n", 1)[0], stderr=exc.stderr) from None
        outcome = ROLLOUT.fullmatch(note.fields["STATUS"])
        assert outcome is not None
        if outcome[3] != "serving":
            raise ReloadError(f"reload failed: {note.fields['STATUS']}", stderr=self.stderr_tail)
        return note

    def _wait_notify_reload(self, start: int, timeout: float) -> Notification:
        __tracebackhide__ = True
        from ..restart.credentials import belongs_to

        def mine(note: Notification) -> bool:
            return note.pid is not None and belongs_to(note.pid, {self.pid})

        reloading = self._wait(
            lambda n: mine(n) and n.fields.get("RELOADING") == "1", timeout, "RELOADING=1", start
        )
        ready = lambda n: mine(n) and n.ready  # noqa: E731
        return self._inbox.notes[self._wait(ready, timeout, "READY=1 after RELOADING=1", reloading)]

    def _child_or_fail(self) -> Child:
        __tracebackhide__ = True
        if self._child is None or self._child.poll() is not None:
            state = "was not started" if self._child is None else "is not running"
            raise ServerError(f"{self.name} {state}", stderr=self.stderr_tail)
        return self._child

    def _wait(
        self, wanted: Callable[[Notification], bool], timeout: float, what: str, since: int
    ) -> int:
        __tracebackhide__ = True
        child = self._child_or_fail()
        return self._inbox.wait(
            wanted,
            timeout,
            what,
            since,
            child=child,
            name=self.name,
            stderr=lambda: self.stderr_tail,
        )
