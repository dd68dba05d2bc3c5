"""The sd_notify edge: send one notification on the ``NOTIFY_SOCKET`` socket.

:func:`notify` is ``sd_pid_notify_with_fds``: one ``sendmsg`` with the fds in ``SCM_RIGHTS`` and,
when sending for another pid, ``SCM_CREDENTIALS`` (R31-R34). The result is three-way:

* :attr:`NotifyResult.NOT_CONFIGURED` - ``NOTIFY_SOCKET`` is unset: nothing was sent, and that
  is not an error (the process simply is not supervised by systemd);
* :attr:`NotifyResult.SENT` - the datagram was handed to the kernel (the manager may still ignore
  it, e.g. under ``NotifyAccess=main`` from a child process; that cannot be seen from here);
* failure - :class:`~socket_activation.NotifyError` (an ``OSError``) is raised, with ``errno`` set
  and the ``NOTIFY_SOCKET`` value in the message.

``NotifyResult`` is truthy only for ``SENT``, so ``if notify(...):`` reads "if it was sent".
The message is checked by :mod:`.notify_message` before anything is sent, configured or not.
"""

from __future__ import annotations

import array
import contextlib
import enum
import errno
import os
import socket
import struct
from collections.abc import Mapping, MutableMapping, Sequence

from .._errors import NotifyError
from .notify_message import encode_message, fd_numbers
from .notify_socket import (
    NOTIFY_SOCKET,
    VMADDR_ANY,
    NotifyAddress,
    notify_error,
    parse_notify_socket,
)

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from .notify_message import HasFileno

__all__ = ["NotifyResult", "notify"]

# libsystemd raises the send buffer so a burst of notifications never blocks (R31)
_SNDBUF_SIZE = 8 * 1024 * 1024
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
        numbers = fd_numbers(fds)
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
            err = exc.errno or errno.EIO
            raise notify_error(err, address.text, "cannot create socket") from None
    for sock_type in (socket.SOCK_SEQPACKET, socket.SOCK_STREAM):
        try:
            return socket.socket(address.family, sock_type | socket.SOCK_CLOEXEC)
        except OSError as exc:
            last = exc.errno or errno.EIO
    raise notify_error(last, address.text, "cannot create socket")


def _bind_vsock_privileged_port(sock: socket.socket) -> None:
    """Best effort, like libsystemd: a port below 1024 proves to the host that we are root."""
    for port in range(1023, 0, -1):
        try:
            sock.bind((VMADDR_ANY, port))
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
            raise notify_error(exc.errno or errno.EIO, address.text) from None


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
        raise notify_error(errno.EIO, address.text, f"short write ({sent} of {len(payload)} bytes)")


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
