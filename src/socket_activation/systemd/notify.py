"""sd_notify in pure Python: tell the service manager about readiness, status and more.

The helpers here send one well-known message each (SPEC.md D and E, R27-R41); this is also the
module the public notify API is imported from. The parts live apart:

* :mod:`.notify_message` - what a message may hold (pure): size, NUL and fd limits, one
  builder per assignment (``status_line``, ...);
* :mod:`.notify_socket` - the ``NOTIFY_SOCKET`` grammar (path, ``@abstract``, vsock);
* :mod:`.notify_send` - :func:`notify` (``sd_pid_notify_with_fds``) and its three-way
  :class:`NotifyResult`: ``NOT_CONFIGURED`` (``NOTIFY_SOCKET`` unset, not an error), ``SENT``
  (truthy), or :class:`~socket_activation.NotifyError` raised.

Messages the manager would drop *silently* are refused before anything is sent, whether or not
``NOTIFY_SOCKET`` is set, with :class:`~socket_activation.NotifyMessageError` (a ``ValueError``):
more than 4096 bytes (R40), any NUL byte (R41), more than 253 fds (R33, the kernel's SCM_MAX_FD).
"""

from __future__ import annotations

import errno
import os
import select
import time

from .notify_message import (
    MAX_MESSAGE_BYTES,
    SCM_MAX_FD,
    encode_message,
    errno_line,
    extend_timeout_line,
    mainpid_line,
    status_line,
)
from .notify_send import NotifyResult, notify
from .notify_socket import NOTIFY_SOCKET, NotifyAddress, notify_error, parse_notify_socket

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_MESSAGE_BYTES",
    "NOTIFY_SOCKET",
    "SCM_MAX_FD",
    "NotifyAddress",
    "NotifyResult",
    "barrier",
    "encode_message",
    "errno_status",
    "extend_timeout",
    "mainpid",
    "notify",
    "parse_notify_socket",
    "ready",
    "reloading",
    "status",
    "status_line",
    "stopping",
    "watchdog_ping",
    "watchdog_trigger",
]


def ready(*, status: str | None = None, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``READY=1`` (with ``STATUS=`` when *status* is given): start-up is complete."""
    lines = ["READY=1"]
    if status is not None:
        lines.append(status_line(status))
    return notify("\n".join(lines), environ=environ)


def reloading(*, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``RELOADING=1`` with ``MONOTONIC_USEC=`` now (R38, R60); send :func:`ready` when done."""
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={now_usec}", environ=environ)


def stopping(*, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``STOPPING=1``: the service is shutting down."""
    return notify("STOPPING=1", environ=environ)


def status(text: str, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``STATUS=<text>``: one line shown by ``systemctl status``; ``""`` clears it (R43)."""
    return notify(status_line(text), environ=environ)


def errno_status(number: int, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``ERRNO=<number>``: the service failed with this (positive) errno."""
    return notify(errno_line(number), environ=environ)


def mainpid(pid: int, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``MAINPID=<pid>``: the service's main process is now *pid* (e.g. after a re-exec)."""
    return notify(mainpid_line(pid), environ=environ)


def extend_timeout(usec: int, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``EXTEND_TIMEOUT_USEC=<usec>``: ask for *usec* more before the start/stop timeout fires."""
    return notify(extend_timeout_line(usec), environ=environ)


def watchdog_ping(*, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``WATCHDOG=1``: keep the watchdog from firing (send every ``WATCHDOG_USEC/2``)."""
    return notify("WATCHDOG=1", environ=environ)


def watchdog_trigger(*, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``WATCHDOG=trigger``: fail the service now with ``Result=watchdog`` (R46)."""
    return notify("WATCHDOG=trigger", environ=environ)


def barrier(
    timeout: float | None = 5.0, *, environ: Mapping[str, str] | None = None
) -> NotifyResult:
    """``BARRIER=1``: wait until the manager has processed every notification sent before (R36).

    Sends the write end of a fresh pipe, closes ours and waits for the manager to close its copy.
    *timeout* is in seconds, ``None`` waits forever. Raises :class:`NotifyError` with
    ``ETIMEDOUT`` when the manager does not answer in time.
    """
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            result = notify("BARRIER=1", fds=[write_end], environ=environ)
        finally:
            os.close(write_end)
        if not result:
            return result
        poller = select.poll()
        poller.register(read_end, 0)  # POLLHUP is always reported
        if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
            text = (environ if environ is not None else os.environ).get(NOTIFY_SOCKET, "")
            raise notify_error(errno.ETIMEDOUT, text, f"no answer to BARRIER=1 within {timeout}s")
        return result
    finally:
        os.close(read_end)
