"""Where a client reaches one of the sockets the test bound: an address, a port, a URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._resolution import ResolvedSocket

__all__ = ["connect_address", "find_socket", "url_for"]

# a socket bound to the wildcard is reached on loopback
_REACHABLE = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def find_socket(sockets: Sequence[ResolvedSocket], name: str | None) -> ResolvedSocket:
    """The first socket named *name* (the first of all for None); LookupError naming them."""
    if name is None:
        return sockets[0]
    for found in sockets:
        if found.name == name:
            return found
    have = ", ".join(repr(s.name) for s in sockets)
    raise LookupError(f"no socket named {name!r} (have: {have})")


def connect_address(found: ResolvedSocket) -> tuple[str, int] | str:
    """``(host, port)`` for TCP/UDP, a path for a Unix socket, ``"\\0name"`` for an abstract
    one: what ``connect()`` takes."""
    sockname = found.sockname
    if sockname is None or (sockname.path is None and sockname.host is None):
        raise ValueError(f"socket {found.name!r} ({found.address}) has no address to reach")
    if sockname.path is not None:
        return ("\0" if sockname.abstract else "") + sockname.path
    assert sockname.host is not None
    assert sockname.port is not None
    return (_REACHABLE.get(sockname.host, sockname.host), sockname.port)


def url_for(found: ResolvedSocket, path: str = "/", *, scheme: str = "http") -> str:
    """``http://127.0.0.1:PORT/path`` (``[::1]`` for IPv6); ValueError for a Unix socket."""
    where = connect_address(found)
    if isinstance(where, str):
        raise ValueError(
            f"socket {found.name!r} is a Unix socket: it has no URL; connect to address() instead"
        )
    host, port = where
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}/{path.lstrip('/')}"
