"""Who sent a notification: the ``SCM_CREDENTIALS`` pid, and whether it is one we watch.

The readiness socket (:mod:`~socket_activation.restart.readiness`) has ``SO_PASSCRED`` on, so
the kernel attaches the sender's ``struct ucred`` to every datagram; :func:`sender_pid` reads
the pid from it. A notification counts for a child when the sender is that child or (Linux, by
``/proc/PID/stat``) one of its descendants, as systemd attributes a service's messages to its
cgroup: :func:`belongs_to`.
"""

from __future__ import annotations

import contextlib
import socket
import struct

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["UCRED", "belongs_to", "sender_pid"]

# struct ucred: pid_t pid; uid_t uid; gid_t gid
UCRED = struct.Struct("iII")


def sender_pid(ancdata: Iterable[tuple[int, int, bytes]]) -> int | None:
    """The pid in a datagram's ``SCM_CREDENTIALS`` (``recvmsg`` ancillary data), or None."""
    pid: int | None = None
    for level, kind, payload in ancdata:
        if (
            level == socket.SOL_SOCKET
            and kind == getattr(socket, "SCM_CREDENTIALS", -1)
            and len(payload) >= UCRED.size
        ):
            pid = UCRED.unpack_from(payload)[0] or None
    return pid


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
