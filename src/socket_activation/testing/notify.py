"""A ``NOTIFY_SOCKET`` for code running in the test process, answering like systemd.

:class:`NotifySocket` binds an abstract ``AF_UNIX`` datagram socket with ``SO_PASSCRED`` and
reads it on a background thread, so code under test that blocks on the manager (``BARRIER=1``:
``sd_notify_barrier``, ``socket-activation notify``) gets its answer while the test waits for
it: as systemd does, the fd sent with ``BARRIER=1`` is closed at once, which the sender sees as
``POLLHUP``. Other fds passed with a message (``FDSTORE=1``) are kept open until
:meth:`NotifySocket.close` and listed in :attr:`NotifySocket.received_fds`.
"""

from __future__ import annotations

import array
import os
import secrets
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from ..restart.notification import parse_notification

__all__ = ["Message", "NotifySocket"]

# the manager's receive buffer is PIPE_BUF-sized (R40); room for SCM_MAX_FD fds and a ucred
_MAX_DATAGRAM = 4096
_UCRED = struct.Struct("iII")
_ANCILLARY = socket.CMSG_SPACE(253 * 4) + socket.CMSG_SPACE(_UCRED.size)


@dataclass(frozen=True)
class Message:
    """One datagram: its sender (``pid`` as the kernel saw it, None without credentials), its
    ``KEY=VALUE`` lines as ``fields``, the exact ``payload`` and how many fds came with it."""

    pid: int | None
    fields: dict[str, str] = field(default_factory=dict)
    payload: bytes = b""
    fd_count: int = 0

    @property
    def ready(self) -> bool:
        return self.fields.get("READY") == "1"


class NotifySocket:
    """The service manager's end of ``NOTIFY_SOCKET``: records every message, in order.

    ``address`` is the value for ``NOTIFY_SOCKET`` (``@name``). Use :meth:`wait` to wait for
    a message; :attr:`messages` holds all of them. Close it (or use ``with``) to stop the
    reader thread and close every fd received.
    """

    def __init__(self) -> None:
        self.address = f"@socket-activation-test/{os.getpid()}/{secrets.token_hex(8)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self._sock.bind("\0" + self.address[1:])
            self._sock.setblocking(False)
            self._stop_r, self._stop_w = socket.socketpair()
        except BaseException:
            self._sock.close()
            raise
        self._messages: list[Message] = []
        self._fds: list[int] = []
        self.barriers = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="notify-socket", daemon=True)
        self._thread.start()

    @property
    def messages(self) -> list[Message]:
        """Every message received so far (``BARRIER=1`` ones included), in order."""
        with self._changed:
            return list(self._messages)

    @property
    def received_fds(self) -> list[int]:
        """fds passed with messages other than ``BARRIER=1``, still open (closed on close())."""
        with self._changed:
            return list(self._fds)

    def wait(self, key: str, value: str | None = None, *, timeout: float = 10.0) -> Message:
        """The first message with *key* (equal to *value* when given), waiting up to *timeout*
        seconds for it; TimeoutError naming what came instead."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for note in self._messages:
                    if key in note.fields and value in (None, note.fields[key]):
                        return note
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [dict(n.fields) for n in self._messages]
                    want = f"{key}={value}" if value is not None else f"{key}="
                    raise TimeoutError(
                        f"no {want} on {self.address} within {timeout:g} s; got {seen}"
                    )
                self._changed.wait(remaining)

    def close(self) -> None:
        """Stop reading, close the socket and every received fd."""
        if self._thread.is_alive():
            self._stop_w.send(b"x")
            self._thread.join(10)
        for sock in (self._sock, self._stop_r, self._stop_w):
            sock.close()
        with self._changed:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            readable = select.select([self._sock, self._stop_r], [], [])[0]
            if self._stop_r in readable:
                return
            while self._receive():
                pass

    def _receive(self) -> bool:
        try:
            data, ancdata, _flags, _addr = self._sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return False
        pid: int | None = None
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                fds.extend(got)
            elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _UCRED.unpack_from(payload)[0] or None
        note = Message(pid, parse_notification(data), data, len(fds))
        with self._changed:
            if note.fields.get("BARRIER") == "1":
                for fd in fds:  # the answer: the sender polls its pipe for the hang-up
                    os.close(fd)
                self.barriers += 1
            else:
                self._fds.extend(fds)
            self._messages.append(note)
            self._changed.notify_all()
        return True
