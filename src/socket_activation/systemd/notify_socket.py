"""The ``NOTIFY_SOCKET`` value: its grammar, parsed the way libsystemd does (R29, R30).

``/path`` and ``@abstract`` are AF_UNIX datagram sockets; ``vsock:CID:PORT`` and the
``vsock-{dgram,seqpacket,stream}:`` forms (systemd 253+) are AF_VSOCK. A value that cannot be
sent to raises :class:`~socket_activation.NotifyError` (an ``OSError``) with libsystemd's errno
and the value in the message; :func:`notify_error` builds every such error. Parsing only: no
socket is opened here.
"""

from __future__ import annotations

import errno
import os
import socket

from .._errors import NotifyError
from .._record import record
from .numbers import ParseIntError, safe_atou

__all__ = ["NOTIFY_SOCKET", "VMADDR_ANY", "NotifyAddress", "notify_error", "parse_notify_socket"]

NOTIFY_SOCKET = "NOTIFY_SOCKET"
# sizeof(sockaddr_un.sun_path) on Linux; the path and its NUL must fit (R29)
_SUN_PATH_MAX = 108
# VMADDR_CID_ANY / VMADDR_PORT_ANY: "any" is no address to send to (R30)
VMADDR_ANY = 2**32 - 1
# names systemd accepts for a CID; "any"/"-1" parse but cannot be sent to
_VSOCK_CIDS = {"hypervisor": 0, "local": 1, "host": 2, "any": VMADDR_ANY, "-1": VMADDR_ANY}
_VSOCK_PREFIXES = {
    "vsock:": 0,  # type unspecified: datagram, falling back to seqpacket/stream
    "vsock-dgram:": socket.SOCK_DGRAM,
    "vsock-seqpacket:": socket.SOCK_SEQPACKET,
    "vsock-stream:": socket.SOCK_STREAM,
}


@record
class NotifyAddress:
    """A parsed ``NOTIFY_SOCKET``: family, socket type (0 = unspecified) and sockaddr."""

    text: str
    family: int
    type: int
    address: bytes | tuple[int, int]


def notify_error(
    err: int, text: str, what: str = "cannot notify the service manager"
) -> NotifyError:
    """The :class:`NotifyError` for *err*, naming ``NOTIFY_SOCKET=<text>`` and what failed."""
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
            raise notify_error(errno.EINVAL, text, "invalid socket address")
        if len(raw) + 1 > _SUN_PATH_MAX:
            err = errno.ENAMETOOLONG if raw[:1] == b"/" else errno.EINVAL
            raise notify_error(err, text, "invalid socket address")
        address = raw if raw[:1] == b"/" else b"\0" + raw[1:]
        return NotifyAddress(text, socket.AF_UNIX, socket.SOCK_DGRAM, address)
    for prefix, sock_type in _VSOCK_PREFIXES.items():
        if text.startswith(prefix):
            return _parse_vsock(text, text[len(prefix) :], sock_type)
    # relative paths and anything else: libsystemd 252 answers EINVAL [T]
    raise notify_error(errno.EINVAL, text, "invalid socket address")


def _parse_vsock(text: str, rest: str, sock_type: int) -> NotifyAddress:
    cid_text, sep, port_text = rest.partition(":")
    if not sep:
        raise notify_error(errno.EINVAL, text, "invalid vsock address (want vsock:CID:PORT)")
    try:
        port = safe_atou(port_text)
        cid = _VSOCK_CIDS[cid_text] if cid_text in _VSOCK_CIDS else safe_atou(cid_text)
    except ParseIntError as exc:
        raise notify_error(exc.errno, text, "invalid vsock address") from None
    except ValueError:  # pragma: no cover - safe_atou only raises ParseIntError
        raise notify_error(errno.EINVAL, text, "invalid vsock address") from None
    if port == VMADDR_ANY or cid_text == "" or cid == VMADDR_ANY:
        # sd_notify needs a specific CID and port; "any" is for binding, not sending
        raise notify_error(errno.EINVAL, text, "invalid vsock address")
    return NotifyAddress(text, socket.AF_VSOCK, sock_type, (cid, port))
