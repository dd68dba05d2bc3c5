"""Socket options: what the user chooses (:class:`BindOptions`) and setting them on a socket.

The one job of this module is turning options into ``setsockopt`` calls before ``bind()``;
creating, binding and closing sockets is :mod:`.bind`'s.
"""

from __future__ import annotations

import socket

from .._record import record
from .address import ListenAddress, Transport

__all__ = ["BindOptions", "configure_common", "configure_inet", "has_so_reuseport"]


@record
class BindOptions:
    """How to configure a socket before and after ``bind()``; defaults are the library's own.

    ``bind_ipv6_only``: ``"both"`` (dual-stack, IPV6_V6ONLY=0), ``"ipv6-only"``, or
    ``"default"`` (leave the kernel's ``net.ipv6.bindv6only`` default, as systemd does).
    Buffer sizes are bytes; ``defer_accept`` is seconds. ``None`` leaves the kernel default.
    """

    backlog: int = 2048
    socket_mode: int = 0o660
    directory_mode: int | None = None  # create missing parent directories with this mode
    bind_ipv6_only: str = "both"
    reuse_port: bool = False
    free_bind: bool = False
    transparent: bool = False
    bind_to_device: str | None = None
    keep_alive: bool | None = None
    no_delay: bool | None = None
    receive_buffer: int | None = None
    send_buffer: int | None = None
    defer_accept: float | None = None
    pass_credentials: bool = False
    socket_user: str | None = None
    socket_group: str | None = None
    nonblocking: bool = True


def has_so_reuseport() -> bool:
    """True when the platform has a working ``SO_REUSEPORT`` (Linux >= 3.9, BSD, macOS)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        return False
    return True


def configure_inet(
    sock: socket.socket, family: int, address: ListenAddress, opts: BindOptions
) -> None:
    """Set the IP options of *opts* on *sock* (a socket of *family*), before ``bind()``."""
    if address.transport is Transport.STREAM:
        # Rebind at once after a restart although old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and opts.bind_ipv6_only != "default":
        v6only = 1 if opts.bind_ipv6_only == "ipv6-only" else 0
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    if opts.reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if opts.free_bind:
        level = socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP
        # IP_FREEBIND (15) and IPV6_FREEBIND (78) are Linux values the socket module lacks.
        sock.setsockopt(level, 78 if family == socket.AF_INET6 else 15, 1)
    if opts.transparent:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, 75, 1)  # IPV6_TRANSPARENT
        else:
            sock.setsockopt(socket.IPPROTO_IP, 19, 1)  # IP_TRANSPARENT
    if opts.bind_to_device:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opts.bind_to_device.encode())
    if address.transport is Transport.STREAM:
        if opts.no_delay is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(opts.no_delay))
        if opts.defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, int(opts.defer_accept))
    configure_common(sock, opts)


def configure_common(sock: socket.socket, opts: BindOptions) -> None:
    """Set the options of *opts* that every family shares (keep-alive, buffers, credentials)."""
    if opts.keep_alive is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(opts.keep_alive))
    if opts.receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts.receive_buffer)
    if opts.send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts.send_buffer)
    if opts.pass_credentials and hasattr(socket, "SO_PASSCRED"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
