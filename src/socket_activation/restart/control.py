"""The control socket: how ``socket-activation reload`` reaches a supervisor or a server.

Every process that can roll out a new generation (``supervise``, a server using
:func:`~socket_activation.restart.handoff_control.serve_reload_requests`) listens on an
``AF_UNIX``/``SOCK_SEQPACKET`` socket with an *abstract* name derived from its pid::

    \\0socket-activation/control/<pid namespace inode>/<pid>

so a client that knows only ``$MAINPID`` finds it, whatever user the service runs as and
whatever directories it may write (abstract names need none). The pid namespace is part of the
name because abstract names are shared by every pid namespace of a network namespace (a
container and its host would otherwise collide on pid 25).

An abstract name is no secret (``/proc/net/unix`` lists it) and anyone may bind it first, so
credentials decide, both ways (``SO_PEERCRED``, filled in by the kernel):

- the server answers only root and its own effective uid; anyone else gets ``refused``;
- the client talks only to a socket whose listening process *is* the pid it asked for, so a
  squatter cannot fake an answer (see :mod:`socket_activation.restart.reload`).

One request per connection, one JSON object per message (``SOCK_SEQPACKET`` keeps message
boundaries): ``{"action": "reload"}`` asks; the answer is ``{"ok": true, "pid": N, "message":
...}`` or ``{"ok": false, "error": ...}``, sent once the outcome is known, then the server
closes the connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct

from .._record import record

TYPE_CHECKING = False  # `socket-activation reload` (ExecReload=) imports this: no typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CONTROL_PREFIX",
    "ControlRequest",
    "ControlServer",
    "Peer",
    "control_address",
    "peer_credentials",
]

CONTROL_PREFIX = "socket-activation/control"
# struct ucred: pid_t pid; uid_t uid; gid_t gid
_UCRED = struct.Struct("iII")
# one request is a small JSON object; anything longer is not ours
_MAX_MESSAGE = 4096
# how many clients may wait in the kernel before we accept them
_BACKLOG = 16


def _pid_namespace() -> str:
    """This process's pid namespace, as the inode number ``/proc/self/ns/pid`` names."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"  # no /proc: one namespace as far as we can tell


def control_address(pid: int) -> bytes:
    """The abstract socket address of process *pid* (of our pid namespace)."""
    if pid <= 0:
        raise ValueError(f"a process id must be positive, got {pid!r}")
    return f"\0{CONTROL_PREFIX}/{_pid_namespace()}/{pid}".encode()


@record
class Peer:
    """Who is at the other end, as the kernel says (``SO_PEERCRED``)."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> Peer:
    """The kernel's credentials of *sock*'s peer."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return Peer(pid, uid, gid)


class ControlRequest:
    """One accepted request; answer it exactly once with :meth:`succeed` or :meth:`fail`."""

    __slots__ = ("_conn", "action", "fields", "peer")

    def __init__(
        self, action: str, peer: Peer, fields: dict[str, Any], conn: socket.socket | None = None
    ) -> None:
        self.action = action
        self.peer = peer
        self.fields = fields
        self._conn = conn

    def __repr__(self) -> str:
        return f"ControlRequest(action={self.action!r}, peer={self.peer!r}, fields={self.fields!r})"

    @property
    def answered(self) -> bool:
        return self._conn is None

    def succeed(self, message: str, **extra: Any) -> None:
        self._answer({"ok": True, "message": message, **extra})

    def fail(self, error: str, **extra: Any) -> None:
        self._answer({"ok": False, "error": error, **extra})

    def _answer(self, document: dict[str, Any]) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with conn, contextlib.suppress(OSError):  # the client may have given up meanwhile
            conn.setblocking(True)
            conn.settimeout(1.0)
            conn.send(json.dumps(document).encode())


class ControlServer:
    """The listening control socket of this process. Non-blocking: drive it with :meth:`poll`
    when one of :meth:`filenos` is readable. Close it when done (or use ``with``).

    Raises ``OSError`` (``EADDRINUSE``) when the name is taken: another process squats it, or
    this pid already has a control socket.
    """

    def __init__(self, *, pid: int | None = None, uid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._uid = os.geteuid() if uid is None else uid
        self.address = control_address(self.pid)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.bind(self.address)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._pending: list[tuple[socket.socket, Peer]] = []

    @property
    def name(self) -> str:
        """The address as ``/proc/net/unix`` and ``ss`` print it (``@`` for the NUL)."""
        return "@" + self.address[1:].decode()

    def filenos(self) -> list[int]:
        """Wait for any of these to be readable, then call :meth:`poll`."""
        return [self._sock.fileno(), *(c.fileno() for c, _ in self._pending)]

    def poll(self) -> list[ControlRequest]:
        """Accept waiting clients and read the requests that have arrived; never blocks.

        Clients that are neither root nor our uid are answered ``refused``. Malformed
        requests are answered with an error. Returns the requests to act on.
        """
        self._accept()
        ready: list[ControlRequest] = []
        still: list[tuple[socket.socket, Peer]] = []
        for conn, peer in self._pending:
            try:
                data = conn.recv(_MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                still.append((conn, peer))
                continue
            except OSError:
                conn.close()
                continue
            if not data:
                conn.close()  # the client left without asking
                continue
            if peer.uid not in (0, self._uid):
                # answered only once its request was read: closing a socket with unread data
                # resets the connection, and the client would never see why
                allowed = "root" if self._uid == 0 else f"root and uid {self._uid}"
                ControlRequest("refused", peer, {}, conn).fail(
                    f"refused: uid {peer.uid} may not control process {self.pid} "
                    f"(only {allowed} may)"
                )
                continue
            request = _parse(data, peer, conn)
            if request is not None:
                ready.append(request)
        self._pending = still
        return ready

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            self._pending.append((conn, peer_credentials(conn)))

    def close(self) -> None:
        for conn, _peer in self._pending:
            conn.close()
        self._pending.clear()
        self._sock.close()

    def __enter__(self) -> ControlServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(data: bytes, peer: Peer, conn: socket.socket) -> ControlRequest | None:
    def bad(why: str) -> None:
        ControlRequest("invalid", peer, {}, conn).fail(why)

    try:
        document = json.loads(data)
    except ValueError:
        bad(f"a request must be one JSON object, got {data[:80]!r}")
        return None
    if not isinstance(document, dict) or not isinstance(document.get("action"), str):
        bad(f'a request needs an "action" string, got {data[:80]!r}')
        return None
    action = document["action"]
    if action != "reload":
        bad(f"unknown action {action!r} (known: 'reload')")
        return None
    return ControlRequest(action, peer, document, conn)
