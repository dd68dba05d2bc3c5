"""The handle ``activated_server`` returns: a command running on sockets the test bound.

The test binds the sockets (port 0: a free port, no races between parallel test runs) and
keeps them for the handle's life; the command gets them at fds 3.. with ``LISTEN_FDS``,
``LISTEN_FDNAMES`` and its own ``LISTEN_PID``, and ``NOTIFY_SOCKET`` names a private socket
that records every message it sends. Because the test holds the listening sockets, a client
that connects before the server is up, or while it restarts, waits in the kernel's accept queue
instead of being refused, exactly as under systemd.

With ``supervise=True`` the command runs under ``socket-activation supervise`` (which gets the
sockets and ``NOTIFY_SOCKET``), and :meth:`ActivatedServer.reload` rolls out a new generation.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._addresses import connect_address, find_socket, url_for
from ._inbox import ROLLOUT, Inbox
from .errors import ReloadError, ServerError

if TYPE_CHECKING:
    from .._resolution import Resolution, ResolvedSocket
    from ..config import ListenSpec, ServerConfig
    from ..restart.readiness import Notification
    from ._process import Child

__all__ = ["ActivatedServer"]

# how long a command line may be in an error message before it is cut short
_NAME_LENGTH = 120


class ActivatedServer:
    """A command started as systemd would start it; see the module docstring.

    Build it with the ``activated_server`` fixture (which always ends it) or
    :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        command: Sequence[str],
        sockets: Resolution,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        supervise: bool = False,
        supervise_args: Sequence[str] = (),
    ) -> None:
        self.command = tuple(command)
        shown = shlex.join(self.command)
        # how errors name it: the command line, cut short
        self.name = shown if len(shown) <= _NAME_LENGTH else shown[: _NAME_LENGTH - 3] + "..."
        self.supervised = supervise
        self._resolution = sockets
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._supervise_args = tuple(supervise_args)
        self._dir = Path(tempfile.mkdtemp(prefix="sa-test-"))
        self._inbox = Inbox()
        self._child: Child | None = None
        self._ready = False
        self._ready_index = 0  # the READY=1 that wait_ready returned
        self._spawn_index = 0  # the first message of the current run
        self.starts = 0

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

    # -- the process ---------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The pid of the process started last (``supervise`` itself when supervised)."""
        if self._child is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._child.pid

    @property
    def returncode(self) -> int | None:
        """None while running; else the exit status (``-N``: killed by signal N)."""
        return None if self._child is None else self._child.poll()

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    @property
    def argv(self) -> list[str]:
        """What is executed: the command, or ``supervise`` running it."""
        if not self.supervised:
            return list(self.command)
        cli = [sys.executable, "-m", "socket_activation", "supervise"]
        return [*cli, *self._supervise_args, "--", *self.command]

    def spawn(self) -> None:
        """Start the command (again) on the same sockets; the previous run must be over."""
        from ._process import Child

        if self.running:
            raise RuntimeError(f"{self.name} is still running as pid {self.pid}")
        sockets = self._resolution.sockets
        env = dict(self._env, NOTIFY_SOCKET=self._inbox.address)
        self._ready = False
        self._inbox.generation = 0
        self._spawn_index = len(self.notifications)
        self._child = Child(
            self.argv,
            [s.fd for s in sockets],
            [s.name for s in sockets],
            env,
            stdout=self._dir / "stdout",
            stderr=self._dir / "stderr",
            cwd=self._cwd,
        )
        self.starts += 1

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
        from ..restart.readiness import belongs_to

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

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to *timeout* s for it to drain and exit (then SIGKILL), end what
        is left of its process group; returns the exit status (``-N``: killed by signal N)."""
        if self._child is None:
            raise RuntimeError(f"{self.name} was not started")
        returncode = self._child.end(timeout)
        self._inbox.collect()
        return returncode

    def wait(self, timeout: float = 10.0) -> int | None:
        """Wait up to *timeout* s for the process to exit by itself; its exit status, or None
        if it is still running (it is not signalled)."""
        if self._child is None:
            raise RuntimeError(f"{self.name} was not started")
        returncode = self._child.wait(timeout)
        self._inbox.collect()
        return returncode

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
        from ..restart.readiness import belongs_to

        def mine(note: Notification) -> bool:
            return note.pid is not None and belongs_to(note.pid, {self.pid})

        reloading = self._wait(
            lambda n: mine(n) and n.fields.get("RELOADING") == "1", timeout, "RELOADING=1", start
        )
        ready = lambda n: mine(n) and n.ready  # noqa: E731
        return self._inbox.notes[self._wait(ready, timeout, "READY=1 after RELOADING=1", reloading)]

    def close(self, timeout: float = 10.0) -> None:
        """End the process (if running), close the sockets and remove the log directory."""
        try:
            if self._child is not None:
                self._child.end(timeout)
        finally:
            self._inbox.close()
            self._resolution.close()
            shutil.rmtree(self._dir, ignore_errors=True)

    # -- what it said --------------------------------------------------------------------------

    @property
    def notifications(self) -> list[Notification]:
        """Every message received on its ``NOTIFY_SOCKET`` so far, in order."""
        return list(self._inbox.collect())

    @property
    def status(self) -> str | None:
        """The last ``STATUS=`` text it sent, or None."""
        return self._inbox.status()

    @property
    def stderr(self) -> str:
        """Everything it wrote to stderr (supervise's log too, when supervised)."""
        return _read(self._dir / "stderr")

    @property
    def stdout(self) -> str:
        return _read(self._dir / "stdout")

    @property
    def stderr_tail(self) -> str:
        from ._process import tail

        return tail(self._dir / "stderr")

    # -- its sockets ---------------------------------------------------------------------------

    @property
    def sockets(self) -> tuple[ResolvedSocket, ...]:
        """The sockets passed, in fd order (fd 3 first): name, kind, address, socket."""
        return self._resolution.sockets

    def address(self, name: str | None = None) -> tuple[str, int] | str:
        """Where to connect to the socket named *name* (default: the first one):
        ``(host, port)`` for TCP/UDP, a path for a Unix socket, ``"\\0name"`` for an
        abstract one."""
        return connect_address(find_socket(self.sockets, name))

    def port(self, name: str | None = None) -> int:
        """The port of the TCP/UDP socket named *name* (default: the first)."""
        found = find_socket(self.sockets, name)
        where = connect_address(found)
        if isinstance(where, str):
            raise ValueError(f"socket {found.name!r} is a Unix socket: it has no port")
        return where[1]

    def url(self, name: str | None = None, path: str = "/", *, scheme: str = "http") -> str:
        """``http://127.0.0.1:PORT/`` for the TCP socket named *name* (default: the first)."""
        return url_for(find_socket(self.sockets, name), path, scheme=scheme)

    # -- waiting -------------------------------------------------------------------------------

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


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
