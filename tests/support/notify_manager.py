"""A real AF_UNIX datagram socket playing the service manager's end of NOTIFY_SOCKET.

It sets SO_PASSCRED like systemd, so every datagram arrives with the sender's pid, uid and gid as
the kernel saw them, and it receives fds passed with SCM_RIGHTS. Received fds are closed when the
manager is closed, so a test cannot leak them.
"""

from __future__ import annotations

import array
import os
import secrets
import shutil
import socket
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FakeManager", "Received", "abstract_manager", "path_manager"]

# room for the most fds one message can carry (SCM_MAX_FD) plus one struct ucred
_ANCILLARY_SPACE = socket.CMSG_SPACE(253 * 4) + socket.CMSG_SPACE(struct.calcsize("iII"))


@dataclass
class Received:
    """One datagram: its exact bytes, the kernel's credentials, the fds and cmsg count."""

    payload: bytes
    pid: int | None = None
    uid: int | None = None
    gid: int | None = None
    fds: list[int] = field(default_factory=list)
    rights_messages: int = 0


class FakeManager:
    """The receiving end of NOTIFY_SOCKET; ``env`` is the environment a service would get."""

    def __init__(self, sock: socket.socket, notify_socket: str) -> None:
        self.sock = sock
        self.notify_socket = notify_socket
        self.env: dict[str, str] = {"NOTIFY_SOCKET": notify_socket}
        self._fds: list[int] = []

    def receive(self, timeout: float = 5.0) -> Received:
        """The next datagram; raises TimeoutError if none arrives within *timeout* seconds."""
        self.sock.settimeout(timeout)
        payload, ancdata, flags, _ = self.sock.recvmsg(8192, _ANCILLARY_SPACE)
        assert not flags & socket.MSG_CTRUNC, "ancillary data truncated"
        received = Received(payload)
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                received.fds.extend(fds)
                self._fds.extend(fds)
                received.rights_messages += 1
            elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                received.pid, received.uid, received.gid = struct.unpack("iII", data)
        return received

    def drain(self) -> list[Received]:
        """Every datagram queued right now, without waiting."""
        out: list[Received] = []
        while True:
            try:
                out.append(self.receive(timeout=0))
            except (BlockingIOError, TimeoutError):
                return out

    def close_fd(self, fd: int) -> None:
        """Close one received fd now (as the real manager does after a BARRIER=1)."""
        self._fds.remove(fd)
        os.close(fd)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self.sock.close()


def _datagram_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return sock


def path_manager() -> Iterator[FakeManager]:
    """A manager bound to a path in a short temporary directory (the 107-byte limit)."""
    directory = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    sock = _datagram_socket()
    path = directory / "notify"
    sock.bind(str(path))
    manager = FakeManager(sock, str(path))
    try:
        yield manager
    finally:
        manager.close()
        shutil.rmtree(directory)


def abstract_manager() -> Iterator[FakeManager]:
    """A manager bound to an abstract name with a random suffix."""
    name = f"sa-test-{secrets.token_hex(8)}"
    sock = _datagram_socket()
    sock.bind(b"\0" + name.encode())
    manager = FakeManager(sock, "@" + name)
    try:
        yield manager
    finally:
        manager.close()
