"""sd_notify in pure Python: tell the service manager about readiness, status and more.

:func:`notify` is ``sd_pid_notify_with_fds``; the helpers below it send one well-known message
each (SPEC.md D and E, R27-R41). The result is three-way:

* :attr:`NotifyResult.NOT_CONFIGURED` - ``NOTIFY_SOCKET`` is unset: nothing was sent, and that
  is not an error (the process simply is not supervised by systemd);
* :attr:`NotifyResult.SENT` - the datagram was handed to the kernel (the manager may still ignore
  it, e.g. under ``NotifyAccess=main`` from a child process; that cannot be seen from here);
* failure - :class:`~socket_activation.NotifyError` (an ``OSError``) is raised, with ``errno`` set
  and the ``NOTIFY_SOCKET`` value in the message.

``NotifyResult`` is truthy only for ``SENT``, so ``if notify(...):`` reads "if it was sent".

Messages the manager would drop *silently* are refused before anything is sent, whether or not
``NOTIFY_SOCKET`` is set, with :class:`~socket_activation.NotifyMessageError` (a ``ValueError``):
more than 4096 bytes (R40), any NUL byte (R41), more than 253 fds (R33, the kernel's SCM_MAX_FD).
"""

from __future__ import annotations

import array
import contextlib
import enum
import errno
import os
import select
import socket
import struct
import time
from collections.abc import Mapping, MutableMapping, Sequence

from .._errors import NotifyError, NotifyMessageError
from .._record import record
from .numbers import ParseIntError, safe_atou

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from typing import Protocol

    class HasFileno(Protocol):
        """Anything with ``fileno()``: a socket, a file."""

        def fileno(self) -> int: ...


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

NOTIFY_SOCKET = "NOTIFY_SOCKET"
# the manager reads notifications into a PIPE_BUF-sized buffer and drops longer ones (R40)
MAX_MESSAGE_BYTES = 4096
# the kernel's SCM_MAX_FD: more fds in one SCM_RIGHTS message fail with EINVAL (R33)
SCM_MAX_FD = 253
# libsystemd raises the send buffer so a burst of notifications never blocks (R31)
_SNDBUF_SIZE = 8 * 1024 * 1024
# sizeof(sockaddr_un.sun_path) on Linux; the path and its NUL must fit (R29)
_SUN_PATH_MAX = 108
# VMADDR_CID_ANY / VMADDR_PORT_ANY: "any" is no address to send to (R30)
_VMADDR_ANY = 2**32 - 1
# names systemd accepts for a CID; "any"/"-1" parse but cannot be sent to
_VSOCK_CIDS = {"hypervisor": 0, "local": 1, "host": 2, "any": _VMADDR_ANY, "-1": _VMADDR_ANY}
_VSOCK_PREFIXES = {
    "vsock:": 0,  # type unspecified: datagram, falling back to seqpacket/stream
    "vsock-dgram:": socket.SOCK_DGRAM,
    "vsock-seqpacket:": socket.SOCK_SEQPACKET,
    "vsock-stream:": socket.SOCK_STREAM,
}
# MSG_NOSIGNAL: a manager that went away must give EPIPE, not kill us with SIGPIPE
_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
# how long a vsock stream sender waits for the manager to close its end
_VSOCK_EOF_TIMEOUT = 5.0


class NotifyResult(enum.Enum):
    """What :func:`notify` did; failures raise :class:`NotifyError` instead."""

    NOT_CONFIGURED = "not configured"
    SENT = "sent"

    def __bool__(self) -> bool:
        return self is NotifyResult.SENT


@record
class NotifyAddress:
    """A parsed ``NOTIFY_SOCKET``: family, socket type (0 = unspecified) and sockaddr."""

    text: str
    family: int
    type: int
    address: bytes | tuple[int, int]


def _fail(err: int, text: str, what: str = "cannot notify the service manager") -> NotifyError:
    return NotifyError(err, f"{what} at {NOTIFY_SOCKET}={text!r}: {os.strerror(err)}")


def parse_notify_socket(text: str) -> NotifyAddress:
    """Parse a ``NOTIFY_SOCKET`` value the way libsystemd does (R29, R30).

    ``/path`` and ``@abstract`` (a leading NUL; the length excludes any trailing NUL) are
    AF_UNIX datagram sockets; ``vsock:CID:PORT`` and the ``vsock-{dgram,seqpacket,stream}:``
    forms (systemd 253+) are AF_VSOCK. Raises :class:`NotifyError` with ``EINVAL`` or
    ``ENAMETOOLONG`` (or ``ERANGE`` for a vsock number out of range).
    """
    raw = os.fsencode(text)
    if raw[:1] in (b"/", b"@"):
        if len(raw) < 2:
            raise _fail(errno.EINVAL, text, "invalid socket address")
        if len(raw) + 1 > _SUN_PATH_MAX:
            err = errno.ENAMETOOLONG if raw[:1] == b"/" else errno.EINVAL
            raise _fail(err, text, "invalid socket address")
        address = raw if raw[:1] == b"/" else b"\0" + raw[1:]
        return NotifyAddress(text, socket.AF_UNIX, socket.SOCK_DGRAM, address)
    for prefix, sock_type in _VSOCK_PREFIXES.items():
        if text.startswith(prefix):
            return _parse_vsock(text, text[len(prefix) :], sock_type)
    # relative paths and anything else: libsystemd 252 answers EINVAL [T]
    raise _fail(errno.EINVAL, text, "invalid socket address")


def _parse_vsock(text: str, rest: str, sock_type: int) -> NotifyAddress:
    cid_text, sep, port_text = rest.partition(":")
    if not sep:
        raise _fail(errno.EINVAL, text, "invalid vsock address (want vsock:CID:PORT)")
    try:
        port = safe_atou(port_text)
        cid = _VSOCK_CIDS[cid_text] if cid_text in _VSOCK_CIDS else safe_atou(cid_text)
    except ParseIntError as exc:
        raise _fail(exc.errno, text, "invalid vsock address") from None
    except ValueError:  # pragma: no cover - safe_atou only raises ParseIntError
        raise _fail(errno.EINVAL, text, "invalid vsock address") from None
    if port == _VMADDR_ANY or cid_text == "" or cid == _VMADDR_ANY:
        # sd_notify needs a specific CID and port; "any" is for binding, not sending
        raise _fail(errno.EINVAL, text, "invalid vsock address")
    return NotifyAddress(text, socket.AF_VSOCK, sock_type, (cid, port))


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


def _fd_numbers(fds: Sequence[int | HasFileno]) -> list[int]:
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


def notify(
    state: str,
    *,
    fds: Sequence[int | HasFileno] = (),
    pid: int | None = None,
    unset_environment: bool = False,
    environ: Mapping[str, str] | None = None,
) -> NotifyResult:
    """Send *state* (newline-separated ``KEY=VALUE`` lines) to the manager at ``NOTIFY_SOCKET``.

    *fds* (ints or objects with ``fileno()``) travel in one ``SCM_RIGHTS`` message; *pid* sends
    on behalf of another process (credentials are attached only when it differs from ours, and the
    send is retried with our own if the kernel refuses them, R32). *environ* defaults to
    ``os.environ``; with *unset_environment* ``NOTIFY_SOCKET`` is removed from it afterwards on
    every path (R34), so children do not inherit it.

    Returns :attr:`NotifyResult.SENT` or :attr:`NotifyResult.NOT_CONFIGURED`; raises
    :class:`NotifyError` when sending fails and :class:`NotifyMessageError` (before anything is
    sent, even when not configured) for a message the manager would drop.
    """
    env = os.environ if environ is None else environ
    try:
        payload = encode_message(state)
        numbers = _fd_numbers(fds)
        text = env.get(NOTIFY_SOCKET)
        if text is None:
            return NotifyResult.NOT_CONFIGURED
        _send(parse_notify_socket(text), payload, numbers, _credentials(pid))
        return NotifyResult.SENT
    finally:
        if unset_environment and isinstance(env, MutableMapping):
            env.pop(NOTIFY_SOCKET, None)


def _credentials(pid: int | None) -> bytes | None:
    """``struct ucred`` to attach, or None when the kernel's own are right (R32)."""
    own = os.getpid()
    if pid in (None, 0, own) and os.getuid() == os.geteuid() and os.getgid() == os.getegid():
        return None
    return struct.pack("iII", pid or own, os.getuid(), os.getgid())


def _open(address: NotifyAddress) -> socket.socket:
    sock_type = address.type or socket.SOCK_DGRAM
    try:
        return socket.socket(address.family, sock_type | socket.SOCK_CLOEXEC)
    except OSError as exc:
        # libsystemd: unspecified vsock type falls back when datagrams are unsupported (R30)
        fallback = exc.errno in (errno.ENODEV, errno.EOPNOTSUPP, errno.ESOCKTNOSUPPORT)
        fallback = fallback or exc.errno == errno.EPROTONOSUPPORT
        if address.family != socket.AF_VSOCK or address.type or not fallback:
            raise _fail(exc.errno or errno.EIO, address.text, "cannot create socket") from None
    for sock_type in (socket.SOCK_SEQPACKET, socket.SOCK_STREAM):
        try:
            return socket.socket(address.family, sock_type | socket.SOCK_CLOEXEC)
        except OSError as exc:
            last = exc.errno or errno.EIO
    raise _fail(last, address.text, "cannot create socket")


def _bind_vsock_privileged_port(sock: socket.socket) -> None:
    """Best effort, like libsystemd: a port below 1024 proves to the host that we are root."""
    for port in range(1023, 0, -1):
        try:
            sock.bind((_VMADDR_ANY, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return
        else:
            return


def _send(address: NotifyAddress, payload: bytes, fds: list[int], ucred: bytes | None) -> None:
    with _open(address) as sock:
        try:
            _send_on(sock, address, payload, fds, ucred)
        except OSError as exc:
            if isinstance(exc, NotifyError):
                raise
            raise _fail(exc.errno or errno.EIO, address.text) from None


def _send_on(
    sock: socket.socket, address: NotifyAddress, payload: bytes, fds: list[int], ucred: bytes | None
) -> None:
    destination: bytes | tuple[int, int] | None = address.address
    if address.family == socket.AF_VSOCK:
        _bind_vsock_privileged_port(sock)
    if sock.type in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
        sock.connect(address.address)
        destination = None
    # best effort (R31): the default buffer still carries one message
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF_SIZE)
    ancillary: list[tuple[int, int, bytes]] = []
    if fds:
        ancillary.append((socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes()))
    if ucred is not None:
        ancillary.append((socket.SOL_SOCKET, socket.SCM_CREDENTIALS, ucred))
    try:
        sent = _sendmsg(sock, payload, ancillary, destination)
    except OSError:
        if ucred is None:
            raise
        # the kernel refused the credentials (not privileged to claim that pid): send as ourselves
        sent = _sendmsg(sock, payload, ancillary[:-1], destination)
    if sock.type == socket.SOCK_STREAM:
        sock.sendall(payload[sent:], _MSG_NOSIGNAL)
        sock.shutdown(socket.SHUT_WR)
        _wait_for_eof(sock)
    elif sent != len(payload):
        raise _fail(errno.EIO, address.text, f"short write ({sent} of {len(payload)} bytes)")


def _sendmsg(
    sock: socket.socket,
    payload: bytes,
    ancillary: list[tuple[int, int, bytes]],
    destination: bytes | tuple[int, int] | None,
) -> int:
    if destination is None:
        return sock.sendmsg([payload], ancillary, _MSG_NOSIGNAL)
    return sock.sendmsg([payload], ancillary, _MSG_NOSIGNAL, destination)


def _wait_for_eof(sock: socket.socket) -> None:
    """Stream vsock: the manager closes after reading; bounded so a stuck host cannot hang us."""
    sock.settimeout(_VSOCK_EOF_TIMEOUT)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        pass


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


def status_line(text: str) -> str:
    """``STATUS=<text>``, refused (NotifyMessageError) unless *text* is a single line."""
    # the manager splits messages on both '\n' and '\r': a second line would become a new key
    if "\n" in text or "\r" in text:
        raise NotifyMessageError(f"STATUS= must be a single line, got {text!r}")
    return f"STATUS={text}"


def status(text: str, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``STATUS=<text>``: one line shown by ``systemctl status``; ``""`` clears it (R43)."""
    return notify(status_line(text), environ=environ)


# errno values the manager accepts in ERRNO= (systemd's ERRNO_MAX)
_ERRNO_MAX = 4095


def errno_status(number: int, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``ERRNO=<number>``: the service failed with this (positive) errno."""
    if not 0 <= number <= _ERRNO_MAX:
        raise NotifyMessageError(f"ERRNO= must be an errno in 0..{_ERRNO_MAX}, got {number}")
    return notify(f"ERRNO={number}", environ=environ)


def mainpid(pid: int, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``MAINPID=<pid>``: the service's main process is now *pid* (e.g. after a re-exec)."""
    if pid <= 0:
        raise NotifyMessageError(f"MAINPID= must be a positive pid, got {pid}")
    return notify(f"MAINPID={pid}", environ=environ)


def extend_timeout(usec: int, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """``EXTEND_TIMEOUT_USEC=<usec>``: ask for *usec* more before the start/stop timeout fires."""
    if usec < 0:
        raise NotifyMessageError(f"EXTEND_TIMEOUT_USEC= must be >= 0, got {usec}")
    return notify(f"EXTEND_TIMEOUT_USEC={usec}", environ=environ)


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
            raise _fail(errno.ETIMEDOUT, text, f"no answer to BARRIER=1 within {timeout}s")
        return result
    finally:
        os.close(read_end)
