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
    # set after listen() like the options above, each refusal a warning (systemd.socket(5))
    broadcast: bool = False
    pass_security: bool = False
    pass_packet_info: bool = False
    priority: int | None = None
    mark: int | None = None
    ip_tos: int | None = None
    ip_ttl: int | None = None
    keep_alive_time: float | None = None  # seconds, TCP_KEEPIDLE
    keep_alive_interval: float | None = None  # seconds, TCP_KEEPINTVL
    keep_alive_probes: int | None = None  # TCP_KEEPCNT
    timestamping: str = "off"  # "us": SO_TIMESTAMP, "ns": SO_TIMESTAMPNS
    tcp_congestion: str | None = None


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
_SO_PASSSEC, _SO_TIMESTAMP, _SO_TIMESTAMPNS = 34, 29, 35
_IP_PKTINFO, _TCP_CONGESTION = 8, 13


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
    for what, option, amount in (
        ("TCP_KEEPIDLE", socket.TCP_KEEPIDLE, opts.keep_alive_time),
        ("TCP_KEEPINTVL", socket.TCP_KEEPINTVL, opts.keep_alive_interval),
        ("TCP_KEEPCNT", socket.TCP_KEEPCNT, opts.keep_alive_probes),
    ):
        if amount:
            setopt(what, socket.IPPROTO_TCP, option, int(amount))
    if opts.defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
        seconds = int(opts.defer_accept)
        setopt("TCP_DEFER_ACCEPT", socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, seconds)
    if opts.no_delay is not None:
        setopt("TCP_NODELAY", socket.IPPROTO_TCP, socket.TCP_NODELAY, int(opts.no_delay))
    if opts.broadcast:
        setopt("SO_BROADCAST", socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if opts.pass_credentials and hasattr(socket, "SO_PASSCRED"):
        setopt("SO_PASSCRED", socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if opts.pass_security:
        setopt("SO_PASSSEC", socket.SOL_SOCKET, _SO_PASSSEC, 1)
    if opts.pass_packet_info:
        _packet_info(setopt, sock.family)
    if opts.timestamping != "off":
        option = _SO_TIMESTAMPNS if opts.timestamping == "ns" else _SO_TIMESTAMP
        setopt("Timestamping", socket.SOL_SOCKET, option, 1)
    if opts.priority is not None:
        setopt("SO_PRIORITY", socket.SOL_SOCKET, socket.SO_PRIORITY, opts.priority)
    if opts.receive_buffer:
        _buffer(setopt, "SO_RCVBUF", socket.SO_RCVBUF, _SO_RCVBUFFORCE, opts.receive_buffer)
    if opts.send_buffer:
        _buffer(setopt, "SO_SNDBUF", socket.SO_SNDBUF, _SO_SNDBUFFORCE, opts.send_buffer)
    if opts.mark is not None:
        setopt("SO_MARK", socket.SOL_SOCKET, socket.SO_MARK, opts.mark)
    if opts.ip_tos is not None:
        setopt("IP_TOS", socket.IPPROTO_IP, socket.IP_TOS, opts.ip_tos)
    if opts.ip_ttl is not None:
        _ttl(setopt, sock.family, opts.ip_ttl)
    if opts.tcp_congestion:
        name = opts.tcp_congestion.encode() + b"\0"
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CONGESTION, name)
        except OSError as exc:
            warn(f"{address}: TCP_CONGESTION failed, ignoring: {exc.strerror or exc}")


def _packet_info(setopt: _Setter, family: int) -> None:
    """``socket_set_recvpktinfo``: IP_PKTINFO or IPV6_RECVPKTINFO; other families refuse."""
    if family == socket.AF_INET:
        setopt("packet info (IP_PKTINFO)", socket.IPPROTO_IP, _IP_PKTINFO, 1)
    elif family == socket.AF_INET6:
        setopt("packet info (IPV6_RECVPKTINFO)", socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        setopt.warn(
            f"{setopt.address}: packet info (IP_PKTINFO/IPV6_RECVPKTINFO) failed, ignoring: "
            "Address family not supported by protocol"
        )


def _ttl(setopt: _Setter, family: int, ttl: int) -> None:
    """``socket_set_ttl``: IP_TTL or IPV6_UNICAST_HOPS; other families refuse."""
    what = "IP_TTL/IPV6_UNICAST_HOPS"
    if family == socket.AF_INET:
        setopt(what, socket.IPPROTO_IP, socket.IP_TTL, ttl)
    elif family == socket.AF_INET6:
        setopt(what, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        setopt.warn(
            f"{setopt.address}: {what} failed, ignoring: Address family not supported by protocol"
        )


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
