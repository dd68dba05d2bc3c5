"""The listen-address grammar: text in, :class:`ListenAddress` out (pure; no sockets).

The grammar itself is drawn in :mod:`.address`; :meth:`ListenAddress.parse` and
:meth:`ListenAddress.from_host_port` are the public doors to these functions.
"""

from __future__ import annotations

import ipaddress
import re

from .._errors import AddressError
from .address import UNIX_PATH_MAX, AddressKind, ListenAddress, Transport

__all__ = ["from_host_port", "parse_listen_address"]

_PORT_ONLY = re.compile(r"[0-9]+")
_IPV6 = re.compile(r"\[(?P<host>[^\]]*)\]:(?P<port>[^%]*)(?:%(?P<scope>.+))?")
_HOST_PORT = re.compile(r"(?P<host>[^:\[\]/@%\s]+):(?P<port>[^:]*)")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


def parse_listen_address(
    text: str, transport: Transport | str | None = None, *, allow_port_zero: bool = True
) -> ListenAddress:
    """Parse *text* in the grammar; see :meth:`ListenAddress.parse`."""
    if not isinstance(text, str):
        raise AddressError(f"listen address must be a string, got {text!r}")
    original = text
    chosen = Transport(transport) if transport is not None else Transport.STREAM
    for t in (Transport.DATAGRAM, Transport.SEQPACKET, Transport.STREAM):
        prefix = f"{t.value}:"
        if text.startswith(prefix):
            chosen = t
            text = text[len(prefix) :]
            break
    if not text:
        raise AddressError(f"empty listen address {original!r}")
    address = _parse_body(text, original, chosen, allow_port_zero)
    if chosen is Transport.SEQPACKET and address.kind not in (
        AddressKind.UNIX,
        AddressKind.ABSTRACT,
        AddressKind.VSOCK,
    ):
        raise AddressError(
            f"seqpacket sockets exist only for Unix and vsock addresses, got {original!r}"
        )
    return address


def from_host_port(
    host: str, port: int, uds: str | None = None, transport: Transport = Transport.STREAM
) -> ListenAddress:
    """The address of a config's simple fields; see :meth:`ListenAddress.from_host_port`."""
    if uds:
        return parse_listen_address(uds, transport)
    if host in ("", "*"):
        return ListenAddress(AddressKind.INET, transport, port=port)
    if ":" in host:
        return parse_listen_address(f"[{host.strip('[]')}]:{port}", transport)
    return parse_listen_address(f"{host}:{port}", transport)


def _parse_port(text: str, original: str, *, allow_zero: bool) -> int:
    if not _PORT_ONLY.fullmatch(text):
        raise AddressError(f"invalid port {text!r} in listen address {original!r}")
    port = int(text)
    if port > 65535 or (port == 0 and not allow_zero):
        low = 0 if allow_zero else 1
        raise AddressError(f"port {port} out of range {low}..65535 in listen address {original!r}")
    return port


def _parse_body(text: str, original: str, transport: Transport, allow_zero: bool) -> ListenAddress:
    if text.startswith("/"):
        if len(text.encode()) > UNIX_PATH_MAX:
            raise AddressError(
                f"Unix socket path is {len(text.encode())} bytes, longer than the "
                f"{UNIX_PATH_MAX}-byte limit: {original!r}"
            )
        if "\0" in text:
            raise AddressError(f"Unix socket path contains a NUL byte: {original!r}")
        return ListenAddress(AddressKind.UNIX, transport, path=text)
    if text.startswith("@"):
        name = text[1:]
        if not name:
            raise AddressError(f"abstract socket name is empty: {original!r}")
        if len(name.encode()) > UNIX_PATH_MAX:
            raise AddressError(
                f"abstract socket name longer than {UNIX_PATH_MAX} bytes: {original!r}"
            )
        return ListenAddress(AddressKind.ABSTRACT, transport, path=name)
    if text.startswith("vsock:"):
        return _parse_vsock(text, original, transport)
    if _PORT_ONLY.fullmatch(text):
        port = _parse_port(text, original, allow_zero=allow_zero)
        return ListenAddress(AddressKind.INET, transport, port=port)
    if text.startswith("["):
        m = _IPV6.fullmatch(text)
        if not m:
            raise AddressError(
                f"invalid IPv6 listen address {original!r}: expected [ADDRESS]:PORT"
                " with an optional %SCOPE after the port"
            )
        host = m["host"]
        try:
            if "%" in host:  # systemd wants the scope after the port (R64)
                raise ValueError(host)
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError(
                f"invalid IPv6 address {host!r} in listen address {original!r}"
            ) from None
        port = _parse_port(m["port"], original, allow_zero=allow_zero)
        return ListenAddress(
            AddressKind.INET, transport, host=ip.compressed, port=port, scope=m["scope"]
        )
    m = _HOST_PORT.fullmatch(text)
    if m:
        host = m["host"]
        port = _parse_port(m["port"], original, allow_zero=allow_zero)
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            if host.replace(".", "").isdigit() or not _HOSTNAME.fullmatch(host):
                raise AddressError(
                    f"invalid host {host!r} in listen address {original!r}"
                ) from None
        return ListenAddress(AddressKind.INET, transport, host=host, port=port)
    raise AddressError(
        f"invalid listen address {original!r}: expected PORT, IPV4:PORT, [IPV6]:PORT,"
        " HOST:PORT, /path, @abstract or vsock:CID:PORT"
    )


def _parse_vsock(text: str, original: str, transport: Transport) -> ListenAddress:
    parts = text.split(":")
    if len(parts) != 3:
        raise AddressError(f"invalid vsock address {original!r}: expected vsock:CID:PORT")
    cid_text, port_text = parts[1], parts[2]
    cid: int | None = None
    if cid_text:
        if not cid_text.isdigit():
            raise AddressError(f"invalid vsock CID {cid_text!r} in {original!r}")
        cid = int(cid_text)
    if not port_text.isdigit() or int(port_text) > 0xFFFFFFFF:
        raise AddressError(f"invalid vsock port {port_text!r} in {original!r}")
    return ListenAddress(AddressKind.VSOCK, transport, cid=cid, port=int(port_text))
