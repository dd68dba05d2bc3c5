"""The process half of :class:`~socket_activation.testing.ActivatedServer`: one command on
sockets the test holds, run (and run again) as systemd runs it, with what it said and wrote.

:class:`ServerProcess` starts the command at fds 3.. with ``LISTEN_FDS``, ``LISTEN_FDNAMES``,
its own ``LISTEN_PID`` and a recording ``NOTIFY_SOCKET``; stops it, waits for it, closes the
sockets; and answers where its sockets are, what it sent and what it logged. Waiting for
readiness and reloads is the job of :mod:`.server`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._addresses import connect_address, find_socket, url_for
from ._inbox import Inbox

if TYPE_CHECKING:
    from .._resolution import Resolution, ResolvedSocket
    from ..restart.notification import Notification
    from ._process import Child

__all__ = ["ServerProcess"]

# how long a command line may be in an error message before it is cut short
_NAME_LENGTH = 120


class ServerProcess:
    """A command run on *sockets* (which it owns from now on); see the module docstring."""

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
        self._spawn_index = 0  # the first message of the current run
        self.starts = 0

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
        self._begin_run()
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

    def _begin_run(self) -> None:
        """Forget the previous run's state, just before a new run starts (extended by
        subclasses that keep state per run)."""
        self._inbox.generation = 0
        self._spawn_index = len(self.notifications)

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


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
