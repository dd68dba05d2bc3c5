"""The listener functions: bind a server's own sockets from a config.

The original design's API, same names and signatures, hardened:

- ``create_listener(config)``: a Unix socket when ``config.uds`` is set, else TCP on
  ``config.host:config.port``; bound, listening with ``config.backlog``, non-blocking.
- ``create_listeners(config, count, *, shared=False)``: one socket per worker, each bound with
  ``SO_REUSEPORT`` so the kernel spreads connections; ``count == 1``, ``shared=True``, a Unix
  socket, or a platform without ``SO_REUSEPORT``: one socket returned ``count`` times.
- ``create_udp_listener(config)`` / ``create_udp_listeners(config, count)``: the UDP twins (for
  HTTP/3), same strategy, no ``listen()``.
- ``cleanup_unix_socket(config)``: remove the Unix socket file, only if this process made it.

A config is anything with ``host``, ``port``, ``uds``, ``backlog`` and optionally
``socket_mode`` attributes; :class:`socket_activation.ServerConfig` is the usual one.
"""

from __future__ import annotations

import errno
import socket
from typing import Protocol

from ._errors import AddressError, AddressInUseError
from .net.address import AddressKind, ListenAddress, Transport
from .net.bind import (
    BindOptions,
    bind_address,
    bind_workers,
    close_all,
    has_so_reuseport,
    remove_unix_socket,
)

__all__ = [
    "ListenerConfig",
    "bound_port",
    "cleanup_unix_socket",
    "create_listener",
    "create_listeners",
    "create_tcp_udp_listeners",
    "create_udp_listener",
    "create_udp_listeners",
    "has_so_reuseport",
]


class ListenerConfig(Protocol):
    """What the listener functions read from a config (ServerConfig has all of it)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def uds(self) -> str | None: ...
    @property
    def backlog(self) -> int: ...


def _address_of(config: ListenerConfig, transport: Transport) -> ListenAddress:
    return ListenAddress.from_host_port(config.host, config.port, config.uds, transport)


def _options(config: ListenerConfig) -> BindOptions:
    mode = getattr(config, "socket_mode", None)
    return BindOptions(backlog=config.backlog, socket_mode=0o660 if mode is None else int(mode))


def bound_port(sock: socket.socket) -> int:
    """The port a TCP/UDP socket is bound to (the real one after binding port 0)."""
    port: int = sock.getsockname()[1]
    return port


def create_listener(config: ListenerConfig) -> socket.socket:
    """One listening socket: Unix when ``config.uds`` is set, else TCP on host:port.

    Bound, listening with ``config.backlog``, non-blocking, without ``SO_REUSEPORT`` (a second
    server on the same address fails fast with :class:`AddressInUseError`).
    """
    return bind_address(_address_of(config, Transport.STREAM), _options(config))


def create_udp_listener(config: ListenerConfig) -> socket.socket:
    """One bound, non-blocking UDP socket on host:port (for HTTP/3); no ``listen()``.

    To land on the same port as a TCP listener bound to port 0, pass the TCP socket's
    :func:`bound_port`, or use :func:`create_tcp_udp_listeners`.
    """
    return bind_address(_address_of(config, Transport.DATAGRAM), _options(config))


def create_listeners(
    config: ListenerConfig, count: int, *, shared: bool = False
) -> list[socket.socket]:
    """Sockets for *count* workers.

    ``count < 1`` raises :class:`ValueError`. A Unix socket, ``count == 1``, ``shared=True``
    or a platform without ``SO_REUSEPORT`` give one socket repeated *count* times (every
    worker accepts on the same fd). Otherwise each worker gets its own socket bound with
    ``SO_REUSEPORT`` to the same address, after a check that no other process already holds
    it (so a restart cannot silently join an old server's reuseport group). If binding fails
    part-way, every socket already made is closed.
    """
    return _create_many(config, count, shared, Transport.STREAM)


def create_udp_listeners(config: ListenerConfig, count: int) -> list[socket.socket]:
    """The UDP twin of :func:`create_listeners` (no ``shared`` choice: UDP sockets are
    per-worker with ``SO_REUSEPORT`` where available, else one shared socket)."""
    return _create_many(config, count, False, Transport.DATAGRAM)


def _create_many(
    config: ListenerConfig, count: int, shared: bool, transport: Transport
) -> list[socket.socket]:
    _check_count(count)
    return _bind_many(_address_of(config, transport), config, count, shared=shared)


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")


def _bind_many(
    address: ListenAddress, config: ListenerConfig, count: int, *, shared: bool
) -> list[socket.socket]:
    return bind_workers(address, _options(config), count, shared=shared)


def create_tcp_udp_listeners(
    config: ListenerConfig, count: int = 1, *, shared: bool = False, attempts: int = 10
) -> tuple[list[socket.socket], list[socket.socket]]:
    """TCP listeners and their UDP twins on the SAME port, for HTTP/3 next to HTTP/1-2.

    With ``config.port == 0`` the TCP sockets pick a free port and the UDP sockets bind that
    port; if it happens to be taken for UDP, both are retried on another free port (up to
    *attempts* times). Returns ``(tcp_sockets, udp_sockets)``, each of length *count*.
    """
    _check_count(count)
    if config.uds:
        raise ValueError(f"HTTP/3 needs an IP address, but config.uds is set ({config.uds!r})")
    tcp_address = _address_of(config, Transport.STREAM)
    for _ in range(attempts):
        tcp = _bind_many(tcp_address, config, count, shared=shared)
        udp_address = _address_of(config, Transport.DATAGRAM).with_port(bound_port(tcp[0]))
        try:
            udp = _bind_many(udp_address, config, count, shared=False)
        except AddressInUseError:
            close_all(tcp)
            if config.port != 0:
                raise
            continue
        except BaseException:
            close_all(tcp)
            raise
        return tcp, udp
    raise AddressInUseError(
        errno.EADDRINUSE,
        f"no port free for both TCP and UDP on {config.host} after {attempts} attempts",
    )


def cleanup_unix_socket(config: ListenerConfig) -> None:
    """Remove ``config.uds`` if it is the socket file this process created.

    Anything else at the path (another server's socket after a handoff, a regular file, an
    abstract name) is left alone. A no-op without ``config.uds``.
    """
    if not config.uds:
        return
    try:
        address = ListenAddress.parse(config.uds)
    except AddressError:
        return  # create_listener refuses it too: no file of ours can be there
    if address.kind is AddressKind.UNIX and address.path:
        remove_unix_socket(address.path)
