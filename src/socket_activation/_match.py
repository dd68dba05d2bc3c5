"""Matching the sockets a service manager passed to the sockets the configuration names.

Pure: given the configured :class:`ListenSpec` values and the described inherited fds, pair
them by name (``FileDescriptorName=``), then by address (typed: ``[::]``/``0.0.0.0`` and
v4-mapped forms are normalised; port 0 matches any port), then by order among unnamed fds.
Only host names are looked up (``getaddrinfo``); no fd is touched.
"""

from __future__ import annotations

import ipaddress
import socket

from .net.address import AddressKind
from .net.sockinfo import SocketInfo

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import ListenSpec
    from .net.address import ListenAddress
    from .net.sockaddr import SocketAddress
    from .systemd.activation import InheritedFd

__all__ = ["address_of", "match_specs"]


def address_of(entry: InheritedFd) -> str:
    """The canonical text of *entry*'s bound address, for notes (``?`` for a non-socket)."""
    return entry.info.address if isinstance(entry.info, SocketInfo) else "?"


def _compatible(spec: ListenSpec, entry: InheritedFd) -> bool:
    """Can *entry* serve *spec*: the same kind (tcp, udp, unix-stream, ...)."""
    return isinstance(entry.info, SocketInfo) and entry.info.kind == spec.address.kind_name


def _usable(spec: ListenSpec, entry: InheritedFd) -> bool:
    """Same kind, and names do not disagree (an fd named 'stray' never serves 'web')."""
    names_agree = spec.name is None or entry.name in ("unknown", spec.name)
    return names_agree and _compatible(spec, entry)


def _same_address(spec: ListenSpec, entry: InheritedFd) -> bool:
    """Does *entry*'s bound address equal the configured one, after normalising?"""
    info = entry.info
    if not isinstance(info, SocketInfo):
        return False
    want, have = spec.address, info.sockname
    if want.kind is AddressKind.UNIX:
        return have.is_unix_path and have.path == want.path
    if want.kind is AddressKind.ABSTRACT:
        return have.is_abstract and have.path == want.path
    if want.kind is AddressKind.VSOCK:
        return have.is_vsock and have.port == want.port
    if not have.is_inet:
        return False
    if want.port and have.port != want.port:
        return False
    return _same_host(want, have)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """*host* as an IP (v4-mapped IPv6 as IPv4), or None for a host name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _same_host(want: ListenAddress, have: SocketAddress) -> bool:
    have_ip = have.ip
    if have_ip is None:
        return False
    if want.host is None:  # port only: any address
        return have_ip.is_unspecified
    wanted = _ip(want.host)
    if wanted is None:  # a host name: compare with what it resolves to
        try:
            infos = socket.getaddrinfo(want.host, None)
        except OSError:
            return False
        return any(_ip(str(i[4][0])) == have_ip for i in infos)
    if wanted.is_unspecified:
        return have_ip.is_unspecified
    return wanted == have_ip


def match_specs(
    specs: Sequence[ListenSpec], inherited: Sequence[InheritedFd]
) -> tuple[list[tuple[ListenSpec, InheritedFd | None]], list[InheritedFd], list[str]]:
    """Pair each spec with an inherited fd: by name, then address, then order.

    Returns the pairs (``None``: to be bound), the fds left over, and notes on order matches.
    """
    free = list(inherited)
    notes: list[str] = []
    pairs: list[tuple[ListenSpec, InheritedFd | None]] = [(spec, None) for spec in specs]

    def take(index: int, entry: InheritedFd) -> None:
        pairs[index] = (pairs[index][0], entry)
        free.remove(entry)

    # 1. by name (several fds may share one name: prefer the one with the same address)
    for i, spec in enumerate(specs):
        if spec.name is None:
            continue
        named = [e for e in free if e.name == spec.name and _compatible(spec, e)]
        if named:
            take(i, next((e for e in named if _same_address(spec, e)), named[0]))
    # 2. by address
    for i, spec in enumerate(specs):
        if pairs[i][1] is None:
            same = next((e for e in free if _usable(spec, e) and _same_address(spec, e)), None)
            if same is not None:
                take(i, same)
    # 3. by order, where names do not disagree
    for i, spec in enumerate(specs):
        if pairs[i][1] is None:
            found = next(
                (e for e in free if _usable(spec, e)),
                None,
            )
            if found is not None:
                take(i, found)
                notes.append(
                    f"fd {found.fd} ({found.name!r}, {address_of(found)}) serves configured "
                    f"{spec.address} by order: no name or address matched"
                )
    return pairs, free, notes
