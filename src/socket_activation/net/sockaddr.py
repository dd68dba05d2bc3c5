"""The address a socket is bound or connected to, as the kernel reports it: a typed value.

:class:`SocketAddress` is built from a ``getsockname()``/``getpeername()`` result (never from
text) and prints the canonical form the rest of the package shows (``127.0.0.1:8080``,
``[::]:8080``, ``[fe80::1]:8080%2``, ``/run/app.sock``, ``@name``, ``<unnamed>``,
``vsock:3:1234``). Code that needs to know what an address is asks its fields and properties
(``is_unix_path``, ``path``, ``ip``, ``port``), never the printed text.
"""

from __future__ import annotations

import socket

from .._record import record

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address

__all__ = ["SocketAddress"]

_AF_VSOCK = getattr(socket, "AF_VSOCK", -1)  # absent on macOS


@record
class SocketAddress:
    """A socket address of one family.

    IP (``AF_INET``, ``AF_INET6``): ``host`` is the IP literal (no brackets, no scope),
    ``port``, and ``scope_id`` (0: none). Unix: ``path`` is the file path, or the abstract name
    without its leading NUL when ``abstract``; an unnamed socket has neither. vsock: ``cid`` and
    ``port``. ``other`` holds the text of anything else (``"<unknown>"``: it could not be read).
    """

    family: int
    host: str | None = None
    port: int | None = None
    scope_id: int = 0
    path: str | None = None
    abstract: bool = False
    cid: int | None = None
    other: str | None = None

    @classmethod
    def from_sockaddr(cls, family: int, addr: object) -> SocketAddress:
        """The address of a ``getsockname()``/``getpeername()`` result *addr* of *family*."""
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(addr, tuple):
            scope = int(addr[3]) if len(addr) > 3 and addr[3] else 0
            return cls(family, host=str(addr[0]), port=int(addr[1]), scope_id=scope)
        if family == socket.AF_UNIX and isinstance(addr, bytes | str):
            text = addr.decode(errors="backslashreplace") if isinstance(addr, bytes) else addr
            if text.startswith("\0"):
                return cls(family, path=text[1:], abstract=True)
            return cls(family, path=text or None)
        if family == _AF_VSOCK and isinstance(addr, tuple):
            return cls(family, cid=int(addr[0]), port=int(addr[1]))
        return cls(family, other=repr(addr))

    @classmethod
    def unknown(cls, family: int) -> SocketAddress:
        """The address of a socket whose ``getsockname()`` failed."""
        return cls(family, other="<unknown>")

    def __str__(self) -> str:
        if self.other is not None:
            return self.other
        if self.family == socket.AF_INET:
            return f"{self.host}:{self.port}"
        if self.family == socket.AF_INET6:
            scope = f"%{self.scope_id}" if self.scope_id else ""
            return f"[{self.host}]:{self.port}{scope}"
        if self.family == socket.AF_UNIX:
            if self.abstract:
                return f"@{self.path}"
            return self.path or "<unnamed>"
        return f"vsock:{self.cid}:{self.port}"

    @property
    def is_inet(self) -> bool:
        """True for an IPv4 or IPv6 address."""
        return self.host is not None

    @property
    def is_unix_path(self) -> bool:
        """True for a Unix socket bound to a file (``path`` is the file)."""
        return self.family == socket.AF_UNIX and not self.abstract and self.path is not None

    @property
    def is_abstract(self) -> bool:
        """True for a Linux abstract Unix socket (``path`` is the name without the NUL)."""
        return self.abstract

    @property
    def is_unnamed(self) -> bool:
        """True for a Unix socket with no address (``socketpair()``, an unbound socket)."""
        return self.family == socket.AF_UNIX and self.other is None and self.path is None

    @property
    def is_vsock(self) -> bool:
        """True for an ``AF_VSOCK`` address."""
        return self.family == _AF_VSOCK and self.other is None

    @property
    def ip(self) -> IPv4Address | IPv6Address | None:
        """The IP of an IP address, a v4-mapped IPv6 one as IPv4 (``::ffff:1.2.3.4``: 1.2.3.4)."""
        if self.host is None:
            return None
        import ipaddress  # only the resolver's matching asks; not on the activated path

        # Python prints a link-local host with its zone (``fe80::1%eth0``); the IP is without it
        ip = ipaddress.ip_address(self.host.partition("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ip

    @property
    def is_any(self) -> bool:
        """True for the any-address (``0.0.0.0``, ``::`` or ``::ffff:0.0.0.0``)."""
        ip = self.ip
        return ip is not None and ip.is_unspecified
