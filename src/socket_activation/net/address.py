"""Listen addresses: one typed value, one string grammar.

The grammar is systemd's ``ListenStream=`` syntax (systemd.socket(5)), shared by the CLI, the
environment, TOML files and unit files, so an address written once means the same everywhere::

    8080                  any address, dual-stack ([::] with IPV6_V6ONLY=0; 0.0.0.0 without IPv6)
    127.0.0.1:8080        IPv4
    [::1]:8080            IPv6; a scope follows the port: [fe80::1]:8080%eth0
    localhost:8080        a host name, resolved with getaddrinfo when bound (an extension:
                          systemd itself accepts literal addresses only)
    /run/app.sock         Unix socket path (at most 107 bytes on Linux)
    @app                  Linux abstract Unix socket (never a file, never unlinked)
    vsock:2:1234          AF_VSOCK, CID and port (CID may be empty: any)

A ``datagram:`` or ``seqpacket:`` prefix selects the socket type that systemd spells
``ListenDatagram=`` and ``ListenSequentialPacket=``; without a prefix the address is a stream.
``str(address)`` prints the form :meth:`ListenAddress.parse` reads back.

This module is pure: it parses and prints, it never touches a socket.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import AddressError

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

__all__ = ["AddressKind", "ListenAddress", "Transport", "UNIX_PATH_MAX"]

# sizeof(sockaddr_un.sun_path) is 108 on Linux and 104 on macOS/BSD; one byte goes to the
# terminating NUL, which systemd requires for path sockets (R62).
UNIX_PATH_MAX = 104 - 1 if sys.platform == "darwin" else 108 - 1

_PORT_ONLY = re.compile(r"[0-9]+")
_IPV6 = re.compile(r"\[(?P<host>[^\]]*)\]:(?P<port>[^%]*)(?:%(?P<scope>.+))?")
_HOST_PORT = re.compile(r"(?P<host>[^:\[\]/@%\s]+):(?P<port>[^:]*)")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


class Transport(enum.StrEnum):
    """The socket type, in systemd's words (``ListenStream=``, ``ListenDatagram=``, ...)."""

    STREAM = "stream"
    DATAGRAM = "datagram"
    SEQPACKET = "seqpacket"

    @property
    def directive(self) -> str:
        """The systemd.socket directive that declares an address of this type."""
        return {
            Transport.STREAM: "ListenStream",
            Transport.DATAGRAM: "ListenDatagram",
            Transport.SEQPACKET: "ListenSequentialPacket",
        }[self]


class AddressKind(enum.StrEnum):
    """Which address family the address names."""

    INET = "inet"  # IPv4, IPv6, a host name, or any address (port only)
    UNIX = "unix"
    ABSTRACT = "abstract"
    VSOCK = "vsock"


def _parse_port(text: str, original: str, *, allow_zero: bool) -> int:
    if not _PORT_ONLY.fullmatch(text):
        raise AddressError(f"invalid port {text!r} in listen address {original!r}")
    port = int(text)
    if port > 65535 or (port == 0 and not allow_zero):
        low = 0 if allow_zero else 1
        raise AddressError(f"port {port} out of range {low}..65535 in listen address {original!r}")
    return port


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One address to listen on, with its socket type.

    Build one with :meth:`parse`; ``str()`` gives it back in the same grammar.
    ``host is None`` with ``kind == INET`` means "any address, dual-stack".
    """

    kind: AddressKind
    transport: Transport = Transport.STREAM
    host: str | None = None
    port: int | None = None
    scope: str | None = None
    path: str | None = None  # Unix path, or the abstract name without its '@'
    cid: int | None = None  # vsock CID; None = any

    # -- parsing -------------------------------------------------------------------------------

    @classmethod
    def parse(
        cls,
        text: str,
        transport: Transport | str | None = None,
        *,
        allow_port_zero: bool = True,
    ) -> ListenAddress:
        """Parse *text* in the grammar above.

        *transport* sets the socket type when the text has no ``datagram:``/``seqpacket:``
        prefix. ``allow_port_zero=False`` rejects port 0 as systemd does in unit files; it is
        allowed by default because binding port 0 (any free port) is useful outside units.
        """
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
        address = cls._parse_body(text, original, chosen, allow_port_zero)
        if chosen is Transport.SEQPACKET and address.kind not in (
            AddressKind.UNIX,
            AddressKind.ABSTRACT,
            AddressKind.VSOCK,
        ):
            raise AddressError(
                f"seqpacket sockets exist only for Unix and vsock addresses, got {original!r}"
            )
        return address

    @classmethod
    def from_host_port(
        cls,
        host: str,
        port: int,
        uds: str | None = None,
        transport: Transport = Transport.STREAM,
    ) -> ListenAddress:
        """The address of a config's simple fields: *uds* if set, else *host*:*port*.

        ``""`` or ``"*"`` as host means any address, dual-stack (like a port-only line);
        an IPv6 host may come with or without brackets.
        """
        if uds:
            return cls.parse(uds, transport)
        if host in ("", "*"):
            return cls(AddressKind.INET, transport, port=port)
        if ":" in host:
            return cls.parse(f"[{host.strip('[]')}]:{port}", transport)
        return cls.parse(f"{host}:{port}", transport)

    @classmethod
    def _parse_body(
        cls, text: str, original: str, transport: Transport, allow_zero: bool
    ) -> ListenAddress:
        if text.startswith("/"):
            if len(text.encode()) > UNIX_PATH_MAX:
                raise AddressError(
                    f"Unix socket path is {len(text.encode())} bytes, longer than the "
                    f"{UNIX_PATH_MAX}-byte limit: {original!r}"
                )
            if "\0" in text:
                raise AddressError(f"Unix socket path contains a NUL byte: {original!r}")
            return cls(AddressKind.UNIX, transport, path=text)
        if text.startswith("@"):
            name = text[1:]
            if not name:
                raise AddressError(f"abstract socket name is empty: {original!r}")
            if len(name.encode()) > UNIX_PATH_MAX:
                raise AddressError(
                    f"abstract socket name longer than {UNIX_PATH_MAX} bytes: {original!r}"
                )
            return cls(AddressKind.ABSTRACT, transport, path=name)
        if text.startswith("vsock:"):
            return cls._parse_vsock(text, original, transport)
        if _PORT_ONLY.fullmatch(text):
            port = _parse_port(text, original, allow_zero=allow_zero)
            return cls(AddressKind.INET, transport, port=port)
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
            return cls(AddressKind.INET, transport, host=ip.compressed, port=port, scope=m["scope"])
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
            return cls(AddressKind.INET, transport, host=host, port=port)
        raise AddressError(
            f"invalid listen address {original!r}: expected PORT, IPV4:PORT, [IPV6]:PORT,"
            " HOST:PORT, /path, @abstract or vsock:CID:PORT"
        )

    @classmethod
    def _parse_vsock(cls, text: str, original: str, transport: Transport) -> ListenAddress:
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
        return cls(AddressKind.VSOCK, transport, cid=cid, port=int(port_text))

    # -- printing ------------------------------------------------------------------------------

    @property
    def body(self) -> str:
        """The address without the transport prefix: the value of a ``Listen*=`` line."""
        if self.kind is AddressKind.UNIX:
            return str(self.path)
        if self.kind is AddressKind.ABSTRACT:
            return f"@{self.path}"
        if self.kind is AddressKind.VSOCK:
            return f"vsock:{'' if self.cid is None else self.cid}:{self.port}"
        if self.host is None:
            return str(self.port)
        if ":" in self.host:
            scope = f"%{self.scope}" if self.scope else ""
            return f"[{self.host}]:{self.port}{scope}"
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.transport is Transport.STREAM:
            return self.body
        return f"{self.transport.value}:{self.body}"

    def __repr__(self) -> str:
        return f"ListenAddress({str(self)!r})"

    # -- properties ----------------------------------------------------------------------------

    @property
    def is_unix(self) -> bool:
        """True for Unix path and abstract sockets."""
        return self.kind in (AddressKind.UNIX, AddressKind.ABSTRACT)

    @property
    def is_inet(self) -> bool:
        """True for IP addresses, host names and port-only addresses."""
        return self.kind is AddressKind.INET

    @property
    def kind_name(self) -> str:
        """``tcp``, ``udp``, ``unix-stream``, ``unix-dgram``, ``unix-seqpacket``, ``vsock-*``."""
        suffix = {
            Transport.STREAM: "stream",
            Transport.DATAGRAM: "dgram",
            Transport.SEQPACKET: "seqpacket",
        }[self.transport]
        if self.is_inet:
            return "tcp" if self.transport is Transport.STREAM else "udp"
        if self.kind is AddressKind.VSOCK:
            return f"vsock-{suffix}"
        return f"unix-{suffix}"

    def with_transport(self, transport: Transport) -> ListenAddress:
        """The same address with another socket type (the UDP twin of a TCP address)."""
        return ListenAddress(
            self.kind, transport, self.host, self.port, self.scope, self.path, self.cid
        )

    def with_port(self, port: int) -> ListenAddress:
        """The same address on another port (after binding port 0)."""
        return ListenAddress(
            self.kind, self.transport, self.host, port, self.scope, self.path, self.cid
        )

    # -- pydantic ------------------------------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema

        def validate(value: object) -> ListenAddress:
            if isinstance(value, ListenAddress):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ValueError(f"expected a listen address string, got {value!r}")
            return cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.to_string_ser_schema(),
            json_schema_input_schema=core_schema.str_schema(),
        )
