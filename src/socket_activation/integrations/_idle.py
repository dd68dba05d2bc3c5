"""Idle exit for the in-process integrations: wait until idle, in the event loop's own step.

The server runs in this process, so the race ``supervise`` has to live with is gone: the last
sample (:class:`~socket_activation.restart.idle.IdleWatch`) and "stop accepting" run in the
same event-loop step (or the same thread, for socketserver), with no accept in between. A
connection arriving after that waits in the kernel's queue: the service manager holds the
socket too and starts the service again. Hence the rule: only for sockets a service manager
passed (on sockets we bound, closing them would reset queued connections).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable

from .._errors import ConfigError
from ..restart.idle import IdleWatch

__all__ = ["close_watch", "require_inherited", "wait_idle", "watch"]

_OPTION = "exit_idle_time"


def require_inherited(
    fds: Iterable[int], inherited: Iterable[int] | None = None, *, option: str = _OPTION
) -> None:
    """ConfigError (its source *option*) unless every fd in *fds* was passed by a service
    manager.

    *inherited* defaults to the listening fds of this process's systemd activation.
    """
    if inherited is None:
        from ..systemd.activation import systemd_activation

        inherited = [entry.fd for entry in systemd_activation().listeners]
    held = set(inherited)
    own = sorted(fd for fd in fds if fd not in held)
    if own:
        raise ConfigError(
            f"needs sockets a service manager holds (LISTEN_FDS); fd {own[0]} was bound here, "
            "and closing it on exit would reset the connections queued on it",
            source=option,
        )


def watch(sockets: Iterable[socket.socket], seconds: float) -> IdleWatch:
    """An :class:`IdleWatch` on duplicates of *sockets* (a server may close its own)."""
    copies = [socket.socket(fileno=os.dup(s.fileno())) for s in sockets]
    try:
        return IdleWatch(copies, seconds)
    except BaseException:
        for copy in copies:
            copy.close()
        raise


async def wait_idle(
    idle: IdleWatch,
    stop_accepting: Callable[[], None],
    busy: Callable[[], bool] | None = None,
) -> None:
    """Return once the sockets were idle for long enough, having called *stop_accepting* in
    the very loop step whose sample said so (no accept can run in between).

    *busy* (the server's own count of connections, when it has one) is asked first and
    spares a netlink round trip while it says True.
    """
    import asyncio  # here: the socketserver path must not pay ~20 ms for it

    while True:
        # next_sample, not the bare interval: a costly sample stretches it (MAX_DUTY)
        await asyncio.sleep(max(0.0, idle.next_sample - time.monotonic()))
        if busy is not None and busy():
            idle.busy()
        elif idle.sample():
            stop_accepting()
            return


def close_watch(idle: IdleWatch) -> None:
    """Close the duplicates :func:`watch` made."""
    for sock in idle.sockets:
        sock.close()
