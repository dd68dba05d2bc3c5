"""Socket options: what the user chooses (:class:`BindOptions`) and setting them on a socket.

The one job of this module is turning options into ``setsockopt`` calls, where and how systemd's
``socket_address_listen`` and ``socket_apply_socket_options`` make them: the few before
``bind()`` that fail the socket (``IPV6_V6ONLY``, ``SO_BINDTODEVICE``), and the rest, before
``bind()`` or after ``listen()``, whose refusal by the kernel is a warning passed to *warn*.
Creating, binding and closing sockets is :mod:`.bind`'s.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from .._record import record
from .address import ListenAddress, Transport

__all__ = [
    "BindOptions",
    "Warn",
    "apply_socket_options",
    "configure_inet",
    "has_so_reuseport",
]


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


Warn = Callable[[str], None]

# Linux values the socket module lacks
_IP_FREEBIND, _IPV6_FREEBIND = 15, 78
_IP_TRANSPARENT, _IPV6_TRANSPARENT = 19, 75
_SO_SNDBUFFORCE, _SO_RCVBUFFORCE = 32, 33


def configure_inet(
    sock: socket.socket, family: int, address: ListenAddress, opts: BindOptions, warn: Warn
) -> None:
    """Set the IP options of *opts* on *sock* before ``bind()``, as systemd's
    ``socket_address_listen`` does: a refused ``IPV6_V6ONLY`` or ``SO_BINDTODEVICE`` fails the
    socket; a refused ``SO_REUSEPORT``, ``IP_FREEBIND`` or ``IP_TRANSPARENT`` is a warning."""
    if address.transport is Transport.STREAM:
        # Rebind at once after a restart although old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and opts.bind_ipv6_only != "default":
        v6only = 1 if opts.bind_ipv6_only == "ipv6-only" else 0
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    if opts.bind_to_device:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opts.bind_to_device.encode())
    v6 = family == socket.AF_INET6
    level = socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP
    setopt = _Setter(sock, address, warn)
    if opts.reuse_port:
        setopt("SO_REUSEPORT", socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if opts.free_bind:
        setopt("IP_FREEBIND/IPV6_FREEBIND", level, _IPV6_FREEBIND if v6 else _IP_FREEBIND, 1)
    if opts.transparent:
        option = _IPV6_TRANSPARENT if v6 else _IP_TRANSPARENT
        setopt("IP_TRANSPARENT/IPV6_TRANSPARENT", level, option, 1)


def apply_socket_options(
    sock: socket.socket, address: ListenAddress, opts: BindOptions, warn: Warn
) -> None:
    """Set the options systemd sets after ``listen()`` (``socket_apply_socket_options``): on any
    socket type, each refusal a warning and the socket kept (``SO_PASSCRED`` on an IPv6 TCP
    socket, ``TCP_NODELAY`` on a Unix socket, ...)."""
    setopt = _Setter(sock, address, warn)
    if opts.keep_alive is not None:
        setopt("SO_KEEPALIVE", socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(opts.keep_alive))
    if opts.defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
        seconds = int(opts.defer_accept)
        setopt("TCP_DEFER_ACCEPT", socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, seconds)
    if opts.no_delay is not None:
        setopt("TCP_NODELAY", socket.IPPROTO_TCP, socket.TCP_NODELAY, int(opts.no_delay))
    if opts.pass_credentials and hasattr(socket, "SO_PASSCRED"):
        setopt("SO_PASSCRED", socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if opts.receive_buffer:
        _buffer(setopt, "SO_RCVBUF", socket.SO_RCVBUF, _SO_RCVBUFFORCE, opts.receive_buffer)
    if opts.send_buffer:
        _buffer(setopt, "SO_SNDBUF", socket.SO_SNDBUF, _SO_SNDBUFFORCE, opts.send_buffer)


class _Setter:
    """``setsockopt`` whose refusal is a warning naming the option and the address."""

    def __init__(self, sock: socket.socket, address: ListenAddress, warn: Warn) -> None:
        self.sock, self.address, self.warn = sock, address, warn

    def __call__(self, what: str, level: int, option: int, value: int) -> bool:
        try:
            self.sock.setsockopt(level, option, value)
        except OSError as exc:
            self.warn(f"{self.address}: {what} failed, ignoring: {exc.strerror or exc}")
            return False
        return True


def _buffer(setopt: _Setter, what: str, name: int, force: int, n: int) -> None:
    """``fd_set_rcvbuf``/``fd_set_sndbuf``: SO_*BUF, then SO_*BUFFORCE when the kernel capped it
    (only root may force; a refusal for lack of privilege is silent, as in systemd)."""
    failed = f"{setopt.address}: {what}/{what}FORCE failed, ignoring"
    if n > 2**31 - 1:
        setopt.warn(f"{failed}: Numerical result out of range")
        return
    if not setopt(f"{what}/{what}FORCE", socket.SOL_SOCKET, name, n):
        return
    if setopt.sock.getsockopt(socket.SOL_SOCKET, name) == 2 * n:
        return
    try:
        setopt.sock.setsockopt(socket.SOL_SOCKET, force, n)
    except PermissionError:
        return
    except OSError as exc:
        setopt.warn(f"{failed}: {exc.strerror or exc}")
