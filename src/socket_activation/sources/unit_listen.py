"""One ``Listen*=`` line of a ``.socket`` unit, as systemd 252's ``config_parse_socket_listen``
reads it.

- ``ListenStream=``, ``ListenDatagram=``, ``ListenSequentialPacket=``: an address (R62-R68). A
  path under the legacy ``/var/run/`` becomes ``/run/…`` with a notice, as systemd does. A value
  systemd ignores (port 0, a bare IP, a relative path, a host name, seqpacket on IP) is
  :class:`IgnoredValueError` with systemd's message.
- ``ListenFIFO=``, ``ListenSpecial=``, ``ListenMessageQueue=``, ``ListenUSBFunction=`` (absolute
  paths, FIFO paths also ``/var/run``-patched) and ``ListenNetlink=`` (``FAMILY [GROUP]``):
  checked the same way, so an invalid one is ignored with systemd's warning; a valid one is
  returned as an :class:`OtherPort` the library does not open.

Pure: text in, value out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import AddressError
from ..net.address import ListenAddress, Transport
from ..unitfile.socket_values import IgnoredValueError

__all__ = ["LISTEN_TRANSPORTS", "OTHER_LISTEN", "OtherPort", "parse_listen", "patch_var_run"]

LISTEN_TRANSPORTS = {
    "ListenStream": Transport.STREAM,
    "ListenDatagram": Transport.DATAGRAM,
    "ListenSequentialPacket": Transport.SEQPACKET,
}
OTHER_LISTEN = frozenset(
    {"ListenFIFO", "ListenSpecial", "ListenNetlink", "ListenMessageQueue", "ListenUSBFunction"}
)
# netlink_family_table of socket-util.c; a number is accepted as well
_NETLINK_FAMILIES = [
    "route",
    "firewall",
    "inet-diag",
    "nflog",
    "xfrm",
    "selinux",
    "iscsi",
    "audit",
    "fib-lookup",
    "connector",
    "netfilter",
    "ip6-fw",
    "dnrtmsg",
    "kobject-uevent",
    "generic",
    "scsitransport",
    "ecryptfs",
    "rdma",
]
_VAR_RUN = re.compile(r"/+var/+run(?:/+|$)")
_PATH_MAX = 4096


@dataclass(frozen=True)
class OtherPort:
    """A FIFO, special file, netlink socket, message queue or USB function port."""

    key: str
    value: str  # as systemd prints it: the simplified path, or "FAMILY GROUP"


def patch_var_run(key: str, path: str) -> tuple[str, str | None]:
    """``patch_var_run``: ``/var/run/x`` -> ``/run/x``, and the notice systemd logs."""
    m = _VAR_RUN.match(path)
    if not m:
        return path, None
    patched = "/run/" + path[m.end() :]
    return patched, (
        f"{key}= references a path below legacy directory /var/run/, updating {path} → "
        f"{patched}; please update the unit file accordingly."
    )


def parse_listen(key: str, text: str) -> tuple[ListenAddress | OtherPort, str | None]:
    """The port of one non-empty ``Listen*=`` value (specifiers already expanded), and the
    notice systemd logs for it (the ``/var/run`` rewrite) or None. Raises IgnoredValueError."""
    if key == "ListenNetlink":
        return _netlink(text), None
    if key in OTHER_LISTEN:
        path = _absolute_path(key, text)
        notice = None
        if key == "ListenFIFO":
            path, notice = patch_var_run(key, path)
        return OtherPort(key, path), notice
    notice = None
    if text.startswith("/"):
        text, notice = patch_var_run(key, text)
    return _address(key, text), notice


def _address(key: str, text: str) -> ListenAddress:
    failed = f"Failed to parse address value in '{text}', ignoring"
    if text.startswith(("datagram:", "seqpacket:", "stream:")):
        raise IgnoredValueError(failed)
    try:
        address = ListenAddress.parse(text, LISTEN_TRANSPORTS[key], allow_port_zero=False)
    except AddressError as exc:
        if key == "ListenSequentialPacket" and "seqpacket sockets exist only" in str(exc):
            raise IgnoredValueError(f"Address family not supported, ignoring: {text}") from None
        raise IgnoredValueError(f"{failed}: {exc}") from None
    if address.is_inet and address.host is not None and not _is_ip(address.host):
        raise IgnoredValueError(f"{failed}: systemd accepts only literal IP addresses")
    return address


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _absolute_path(key: str, text: str) -> str:
    """``path_simplify_and_warn(PATH_CHECK_ABSOLUTE)``."""
    if not text.startswith("/"):
        raise IgnoredValueError(f"{key}= path is not absolute, ignoring: {text}")
    parts = [p for p in text.split("/") if p and p != "."]
    simplified = "/" + "/".join(parts)
    if len(simplified.encode()) >= _PATH_MAX:
        raise IgnoredValueError(
            f"{key}= path has invalid length ({len(simplified.encode())} bytes), ignoring."
        )
    if ".." in parts:
        raise IgnoredValueError(f"{key}= path is not normalized, ignoring: {simplified}")
    return simplified


def _netlink(text: str) -> OtherPort:
    """``socket_address_parse_netlink``: a family name or number, then an optional group."""
    failed = f"Failed to parse address value in '{text}', ignoring"
    words = text.split(None, 1)
    if not words:
        raise IgnoredValueError(failed)
    family = words[0]
    if family not in _NETLINK_FAMILIES and not (family.isascii() and family.isdigit()):
        raise IgnoredValueError(failed)
    group = 0
    if len(words) > 1:
        from ..systemd.numbers import ParseIntError, safe_atou

        try:
            group = safe_atou(words[1])
        except ParseIntError:
            raise IgnoredValueError(failed) from None
    return OtherPort("ListenNetlink", f"{family} {group}")
