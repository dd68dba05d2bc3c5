"""Has a process let go of our listening sockets? The kernel's answer, through ``/proc``.

After a rollout the old generation gets ``SIGTERM``; until it has closed its copies of the
listening sockets it may still ``accept()`` from the shared queue. A reload that reports
success must wait for that moment, or "after ``systemctl reload`` returns, the new code answers"
would not hold. Servers are unchanged programs, so we cannot ask them; we look instead: a
process holds a socket when one of its fds (``/proc/PID/fd/N``, a ``socket:[INODE]`` link)
names the socket's inode, and so do its descendants (pre-fork workers), found through
``/proc/PID/task/TID/children``.

A process we may not inspect (another uid, ``hidepid=``) counts as *holding*: the answer must
never be "released" when it is not known.
"""

from __future__ import annotations

import contextlib
import os
import socket

TYPE_CHECKING = False  # on the reload client's path: no collections import
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["descendants", "holders", "socket_inodes"]

# a process tree is never this deep in practice; bounds the walk on a corrupt/racing /proc
_MAX_DEPTH = 64


def socket_inodes(sockets: Sequence[socket.socket]) -> frozenset[int]:
    """The inode numbers of *sockets* (what ``/proc/PID/fd`` links name)."""
    return frozenset(os.fstat(s.fileno()).st_ino for s in sockets)


def descendants(pid: int, proc: str = "/proc") -> list[int]:
    """*pid* and every live descendant (Linux ``/proc/PID/task/TID/children``)."""
    found: list[int] = []
    level = [pid]
    for _ in range(_MAX_DEPTH):
        if not level:
            break
        found.extend(level)
        following: list[int] = []
        for parent in level:
            following.extend(_children(parent, proc))
        level = [p for p in following if p not in found]
    return found


def _children(pid: int, proc: str) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"{proc}/{pid}/task"):
            with contextlib.suppress(OSError), open(f"{proc}/{pid}/task/{tid}/children") as f:
                out.extend(int(word) for word in f.read().split())
    return out


def holders(
    pids: Iterable[int],
    inodes: Iterable[int],
    *,
    with_descendants: bool = True,
    proc: str = "/proc",
) -> list[int]:
    """The pids among *pids* (and their descendants) that still hold one of *inodes*.

    A pid that has exited holds nothing; one whose fds cannot be read counts as a holder.
    """
    wanted = {f"socket:[{inode}]" for inode in inodes}
    out: list[int] = []
    for root in pids:
        for pid in descendants(root, proc) if with_descendants else [root]:
            if _holds(pid, wanted, proc):
                out.append(pid)
    return out


def _holds(pid: int, wanted: set[str], proc: str) -> bool:
    directory = f"{proc}/{pid}/fd"
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return False  # gone
    except PermissionError:
        return True  # cannot tell: assume it still holds them
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"{directory}/{name}") in wanted:
                return True
        except OSError:
            continue  # closed meanwhile
    # a zombie has an empty fd directory: released
    return False
