"""The receiving end of ``NOTIFY_SOCKET``, for the children we start ourselves.

``supervise`` and the in-process handoff play the service manager towards the processes they
start: each child gets ``NOTIFY_SOCKET`` naming a private :class:`ReadinessSocket`, speaks the
ordinary sd_notify protocol to it (``READY=1``, ``STATUS=``, ``MAINPID=``, ``STOPPING=1``,
``ERRNO=``, ``WATCHDOG=1``...), and every datagram is attributed to its sender through
``SCM_CREDENTIALS`` (``SO_PASSCRED`` is on), exactly as systemd does (R42).

The socket is ``AF_UNIX``/``SOCK_DGRAM`` with an abstract name and a random suffix on Linux (no
file to clean up, nothing another user can guess), else a path in a private ``0700`` temp
directory. It is close-on-exec: a child reaches it only through the name in its environment.

:func:`parse_notification` is the pure part: one datagram to ``{KEY: VALUE}``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .child_env import notify_name

__all__ = [
    "ChildExitedError",
    "Notification",
    "ReadinessSocket",
    "ReadyTimeoutError",
    "belongs_to",
    "describe_wait_status",
    "parse_notification",
]

# the manager's receive buffer is PIPE_BUF-sized; longer messages are dropped (R40)
_MAX_DATAGRAM = 4096
# struct ucred: pid_t pid; uid_t uid; gid_t gid
_UCRED = struct.Struct("iII")
# while waiting without a pidfd, how often to look whether the child has exited
_POLL_INTERVAL = 0.02


def parse_notification(data: bytes) -> dict[str, str]:
    """``KEY=VALUE`` lines of one datagram as a dict; the last value of a repeated key wins.

    Lines without ``=`` and empty lines are ignored, as the manager ignores them. Invalid UTF-8
    is replaced rather than refused: the message is diagnostics, not input to trust.
    """
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


@dataclass(frozen=True, slots=True)
class Notification:
    """One datagram: who sent it (``pid``, ``None`` when the kernel attached no credentials)."""

    pid: int | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """True for ``READY=1``."""
        return self.fields.get("READY") == "1"

    @property
    def mainpid(self) -> int | None:
        """The pid a ``MAINPID=`` line names, or None (absent or not a positive integer)."""
        text = self.fields.get("MAINPID", "")
        return int(text) if text.isdigit() and int(text) > 0 else None


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


def describe_wait_status(status: int) -> str:
    """``exited with status 3`` / ``was killed by SIGSEGV`` for an ``os.waitpid`` status."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            import signal

            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"was killed by {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class ReadinessSocket:
    """A private ``NOTIFY_SOCKET`` for our own children. Close it when done (or use ``with``)."""

    def __init__(self, *, abstract: bool | None = None) -> None:
        use_abstract = sys.platform.startswith("linux") if abstract is None else abstract
        self._dir: str | None = None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            if hasattr(socket, "SO_PASSCRED"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if use_abstract:
                name = notify_name(os.getpid())
                sock.bind("\0" + name)
                self.address = "@" + name
            else:
                import tempfile  # only here: not on the (Linux, abstract) start-up path

                self._dir = tempfile.mkdtemp(prefix="sa-notify-")  # mode 0700
                path = os.path.join(self._dir, "notify")
                sock.bind(path)
                self.address = path
            sock.setblocking(False)
        except BaseException:
            sock.close()
            self._remove_dir()
            raise
        self._sock = sock

    @classmethod
    def adopt(cls, fd: int, address: str) -> ReadinessSocket:
        """Take over the readiness socket *fd*, bound to *address*, that the early start made
        (:mod:`.early`: same name format, ``SO_PASSCRED``, close-on-exec); closing it closes
        *fd*."""
        self = cls.__new__(cls)
        self._dir = None
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self.address = address
        return self

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket and remove its directory (path sockets only)."""
        self._sock.close()
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._dir is not None:
            import shutil

            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> ReadinessSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def receive(self) -> Notification | None:
        """One pending datagram, or None when none is waiting (never blocks)."""
        try:
            data, ancdata, _flags, _addr = self._sock.recvmsg(
                _MAX_DATAGRAM, socket.CMSG_SPACE(_UCRED.size)
            )
        except (BlockingIOError, InterruptedError):
            return None
        pid: int | None = None
        for level, kind, payload in ancdata:
            if (
                level == socket.SOL_SOCKET
                and kind == getattr(socket, "SCM_CREDENTIALS", -1)
                and len(payload) >= _UCRED.size
            ):
                pid = _UCRED.unpack_from(payload)[0] or None
        return Notification(pid, parse_notification(data))

    def wait(self, timeout: float) -> Notification:
        """The next datagram, waiting up to *timeout* seconds; TimeoutError if none came."""
        deadline = time.monotonic() + timeout
        while (note := self.receive()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._sock], [], [], remaining)[0]:
                raise TimeoutError(f"no notification within {timeout} s on {self.address}")
        return note

    def drain(self) -> list[Notification]:
        """Every datagram waiting now."""
        out: list[Notification] = []
        while (note := self.receive()) is not None:
            out.append(note)
        return out

    def wait_ready(
        self,
        pid: int,
        timeout: float,
        *,
        on_message: Callable[[Notification], None] | None = None,
        after: tuple[float, Callable[[], object]] | None = None,
    ) -> Notification:
        """Wait for ``READY=1`` from *pid*, from a pid it named with ``MAINPID=``, or from one of
        their descendants; returns that notification.

        Raises :class:`ChildExitedError` (after reaping it) when *pid* exits first, and
        :class:`ReadyTimeoutError` when *timeout* seconds pass (the child is left running: the
        caller decides its fate). Messages from other senders go to *on_message* (for example
        an older generation's ``STATUS=``) and do not count. ``after=(S, callback)`` calls
        *callback* once if the wait reaches S seconds (the handoff's starvation guard).
        """
        watched = {pid}
        last_status: str | None = None
        deadline = time.monotonic() + timeout
        late = None if after is None else time.monotonic() + after[0]
        pidfd = _open_pidfd(pid)
        try:
            while True:
                for note in self.drain():
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
                waitables: list[int] = [self.fileno()]
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


def belongs_to(sender: int, watched: Iterable[int]) -> bool:
    """True when *sender* is a watched pid or (Linux) a descendant of one."""
    roots = set(watched)
    current = sender
    for _ in range(64):  # bounded: a parent chain is never this deep in practice
        if current in roots:
            return True
        parent = _parent_of(current)
        if parent is None or parent <= 1:
            return False
        current = parent
    return False


def _parent_of(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # the command name may hold spaces and parentheses: fields start after the last ")"
        return int(stat[stat.rindex(b")") + 2 :].split()[1])
    return None
