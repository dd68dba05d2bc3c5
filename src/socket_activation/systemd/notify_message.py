"""What a notification may hold: the pure rules, checked before anything is sent.

A notification is newline-separated ``KEY=VALUE`` assignments sent as one datagram, its UTF-8
bytes verbatim (R28). Messages the manager would drop *silently* are refused with
:class:`~socket_activation.NotifyMessageError` (a ``ValueError``): more than 4096 bytes (R40),
any NUL byte (R41), more than 253 fds (R33, the kernel's SCM_MAX_FD). The builders below make
one assignment each and refuse a value the manager would misread (a second line in
``STATUS=``, an errno out of range, ...). No I/O here.
"""

from __future__ import annotations

from .._errors import NotifyMessageError

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    class HasFileno(Protocol):
        """Anything with ``fileno()``: a socket, a file."""

        def fileno(self) -> int: ...


__all__ = [
    "MAX_MESSAGE_BYTES",
    "SCM_MAX_FD",
    "encode_message",
    "errno_line",
    "extend_timeout_line",
    "fd_numbers",
    "mainpid_line",
    "status_line",
]

# the manager reads notifications into a PIPE_BUF-sized buffer and drops longer ones (R40)
MAX_MESSAGE_BYTES = 4096
# the kernel's SCM_MAX_FD: more fds in one SCM_RIGHTS message fail with EINVAL (R33)
SCM_MAX_FD = 253
# errno values the manager accepts in ERRNO= (systemd's ERRNO_MAX)
_ERRNO_MAX = 4095


def encode_message(state: str) -> bytes:
    """The datagram for *state*: its UTF-8 bytes verbatim (R28), refused if the manager would drop
    it (over :data:`MAX_MESSAGE_BYTES`, or containing NUL)."""
    try:
        payload = state.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotifyMessageError(f"notification is not valid UTF-8: {exc}") from None
    if len(payload) > MAX_MESSAGE_BYTES:
        raise NotifyMessageError(
            f"notification is {len(payload)} bytes, the manager drops messages over "
            f"{MAX_MESSAGE_BYTES} bytes: {state[:40]!r}..."
        )
    nul = payload.find(b"\0")
    if nul >= 0:
        raise NotifyMessageError(
            f"notification contains a NUL byte at offset {nul}, the manager ignores such "
            f"messages: {state[:80]!r}"
        )
    return payload


def fd_numbers(fds: Sequence[int | HasFileno]) -> list[int]:
    """The fd numbers of *fds* (ints or objects with ``fileno()``), refused beyond SCM_MAX_FD."""
    numbers = [fd if isinstance(fd, int) else fd.fileno() for fd in fds]
    if len(numbers) > SCM_MAX_FD:
        raise NotifyMessageError(
            f"cannot pass {len(numbers)} fds in one notification, the kernel allows at most "
            f"{SCM_MAX_FD} (SCM_MAX_FD)"
        )
    for fd in numbers:
        if fd < 0:
            raise NotifyMessageError(f"fd must be a non-negative integer, got {fd}")
    return numbers


def status_line(text: str) -> str:
    """``STATUS=<text>``, refused (NotifyMessageError) unless *text* is a single line."""
    # the manager splits messages on both '\n' and '\r': a second line would become a new key
    if "\n" in text or "\r" in text:
        raise NotifyMessageError(f"STATUS= must be a single line, got {text!r}")
    return f"STATUS={text}"


def errno_line(number: int) -> str:
    """``ERRNO=<number>``, refused unless *number* is an errno the manager accepts."""
    if not 0 <= number <= _ERRNO_MAX:
        raise NotifyMessageError(f"ERRNO= must be an errno in 0..{_ERRNO_MAX}, got {number}")
    return f"ERRNO={number}"


def mainpid_line(pid: int) -> str:
    """``MAINPID=<pid>``, refused unless *pid* is positive."""
    if pid <= 0:
        raise NotifyMessageError(f"MAINPID= must be a positive pid, got {pid}")
    return f"MAINPID={pid}"


def extend_timeout_line(usec: int) -> str:
    """``EXTEND_TIMEOUT_USEC=<usec>``, refused for a negative *usec*."""
    if usec < 0:
        raise NotifyMessageError(f"EXTEND_TIMEOUT_USEC= must be >= 0, got {usec}")
    return f"EXTEND_TIMEOUT_USEC={usec}"
