"""One child process of a test: started in its own process group, logs in files, always ended.

The child leads a new process group (in the test's session, so it stays in the test's
scheduling autogroup), with stdin on ``/dev/null``, so everything it forks stays in a group
the test owns. Ending it is systemd's ``KillMode=mixed``: ``SIGTERM`` to the main process,
``SIGKILL`` after the timeout, then ``SIGKILL`` to whatever is left in its group. The
leftovers are killed while the main process is still an unreaped zombie (``waitid`` with
``WNOWAIT``), so the group id cannot have been reused by then.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["Child", "describe_returncode", "tail"]

# how often to look whether the child has exited while waiting for it
_POLL = 0.01
# the part of a log quoted in an error: enough for a traceback
_TAIL_BYTES = 8192
_TAIL_LINES = 40
# run the command in a directory: $0 is the directory, "$@" the command (exec keeps the pid)
_CD = 'cd -- "$0" && exec "$@"'


def tail(path: Path) -> str:
    """The last lines of the file at *path* ('' when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _TAIL_BYTES))
            data = f.read()
    except FileNotFoundError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-_TAIL_LINES:]) + ("\n" if lines else "")


def describe_returncode(returncode: int) -> str:
    """``exited with status 3`` / ``was killed by SIGKILL`` for a subprocess-style code."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Child:
    """A started process: ``pid``, and ``returncode`` once reaped (``-N`` for signal N)."""

    def __init__(
        self,
        argv: Sequence[str],
        fds: Sequence[int],
        names: Sequence[str],
        env: Mapping[str, str],
        *,
        stdout: Path,
        stderr: Path,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # a server reads no terminal
        try:
            self._spawn(argv, fds, names, env, stdin=null, stdout=stdout, stderr=stderr, cwd=cwd)
        finally:
            os.close(null)
        self.returncode: int | None = None

    def _spawn(
        self,
        argv: Sequence[str],
        fds: Sequence[int],
        names: Sequence[str],
        env: Mapping[str, str],
        *,
        stdin: int,
        stdout: Path,
        stderr: Path,
        cwd: str | os.PathLike[str] | None,
    ) -> None:
        from ..restart.spawn import spawn_with_sockets

        out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                if cwd is not None:  # in the child: the test process keeps its own directory
                    argv = ["/bin/sh", "-c", _CD, os.fspath(cwd), *argv]
                self.pid = spawn_with_sockets(
                    argv, fds, names, env, process_group=True, stdin=stdin, stdout=out, stderr=err
                )
            finally:
                os.close(err)
        finally:
            os.close(out)

    def poll(self) -> int | None:
        """The return code if the process has exited (reaping it), else None."""
        if self.returncode is None and self._exited():
            self._reap()
        return self.returncode

    def signal(self, signum: int) -> None:
        """Send *signum* to the process, if it is still ours to signal."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int | None:
        """Wait up to *timeout* s for the exit; the return code, or None if still running."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                return None
            time.sleep(_POLL)
        return self.returncode

    def end(self, timeout: float) -> int:
        """SIGTERM, SIGKILL after *timeout* s, then SIGKILL to the rest of its group."""
        if self.returncode is not None:
            self._kill_orphans()
            return self.returncode
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not self._exited():
            if time.monotonic() >= deadline:
                self._kill_group()  # the main process included
                deadline = float("inf")
            time.sleep(_POLL)
        self._kill_group()  # the main process is a zombie: its group id is still its own
        self._reap()
        assert self.returncode is not None
        return self.returncode

    def _exited(self) -> bool:
        """True once the process has exited; it stays a zombie (not reaped) for _kill_group."""
        try:
            found = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return found is not None and found.si_pid == self.pid

    def _kill_orphans(self) -> None:
        """Kill what is left of the group of a process already reaped (a server that handed
        over to a new process and exited). Only while no process has its pid: a group id
        stays reserved while the group has members, so those are still ours; a live process
        with that pid would be a stranger that got it recycled, and is left alone."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self._kill_group()
        except PermissionError:
            return

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _reap(self) -> None:
        try:
            _pid, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped elsewhere: gone, status unknown
            self.returncode = 255
            return
        self.returncode = os.waitstatus_to_exitcode(status)
