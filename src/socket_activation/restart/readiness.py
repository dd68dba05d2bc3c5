"""The receiving end of ``NOTIFY_SOCKET``, for the children we start ourselves.

``supervise`` and the in-process handoff play the service manager towards the processes they
start: each child gets ``NOTIFY_SOCKET`` naming a private :class:`ReadinessSocket`, speaks the
ordinary sd_notify protocol to it (``READY=1``, ``STATUS=``, ``MAINPID=``, ``STOPPING=1``,
``ERRNO=``, ``WATCHDOG=1``...), and every datagram is attributed to its sender through
``SCM_CREDENTIALS`` (``SO_PASSCRED`` is on), exactly as systemd does (R42).

The socket is ``AF_UNIX``/``SOCK_DGRAM`` with an abstract name and a random suffix on Linux (no
file to clean up, nothing another user can guess), else a path in a private ``0700`` temp
directory. It is close-on-exec: a child reaches it only through the name in its environment.

This module is the socket itself: making (or adopting) it, receiving and draining datagrams.
Its parts each do one job: :mod:`~socket_activation.restart.notification` (the pure part:
:func:`parse_notification`, one datagram to ``{KEY: VALUE}``, and :class:`Notification`),
:mod:`~socket_activation.restart.credentials` (the sender's pid and :func:`belongs_to`),
:mod:`~socket_activation.restart.readiness_wait` (the wait for one child's ``READY=1`` behind
:meth:`ReadinessSocket.wait_ready`, and its errors) and
:mod:`~socket_activation.restart.wait_status` (:func:`describe_wait_status`); their public names
are importable from here too.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time

from .child_env import notify_name
from .credentials import UCRED, belongs_to, sender_pid
from .notification import Notification, parse_notification
from .readiness_wait import ChildExitedError, ReadyTimeoutError, wait_for_ready
from .wait_status import describe_wait_status

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable

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
                _MAX_DATAGRAM, socket.CMSG_SPACE(UCRED.size)
            )
        except (BlockingIOError, InterruptedError):
            return None
        return Notification(sender_pid(ancdata), parse_notification(data))

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
        return wait_for_ready(self, pid, timeout, on_message=on_message, after=after)
