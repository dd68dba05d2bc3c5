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

This module is pure: it holds and prints the value; the parsing is in :mod:`.grammar`; neither
touches a socket.
"""

from __future__ import annotations

import enum
import sys

from .._record import record

TYPE_CHECKING = False  # on resolve()'s path: no typing (and no dataclasses, ~6 ms with inspect)
if TYPE_CHECKING:
    from typing import Any

    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

__all__ = ["AddressKind", "ListenAddress", "Transport", "UNIX_PATH_MAX"]

# sizeof(sockaddr_un.sun_path) is 108 on Linux and 104 on macOS/BSD; one byte goes to the
# terminating NUL, which systemd requires for path sockets (R62).
UNIX_PATH_MAX = 104 - 1 if sys.platform == "darwin" else 108 - 1


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


@record
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

    # -- parsing (the grammar itself is in .grammar) -------------------------------------------

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
        from .grammar import parse_listen_address  # the grammar builds ListenAddress values

        return parse_listen_address(text, transport, allow_port_zero=allow_port_zero)

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
        from .grammar import from_host_port

        return from_host_port(host, port, uds, transport)

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
