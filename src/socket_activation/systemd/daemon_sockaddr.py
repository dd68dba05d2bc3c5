"""The address text ``systemd.daemon.is_socket_sockaddr()`` takes, parsed as the binding does.

python-systemd parses it with its own copy of an older systemd ``socket_address_parse()``
(``parse_sockaddr()`` in its ``util.c``), not with today's ``ListenStream=`` grammar
(:mod:`socket_activation.net.address`), so the drop-in has its own parser, quirks included:

* ``[v6]`` or ``[v6]:port``; ``v4`` or ``v4:port``; a bare ``port`` means ``[::]:port`` when the
  kernel has IPv6 (``/proc/net/if_inet6`` exists), else ``0.0.0.0:port``;
* anything else before the colon is tried as an interface name: ``lo:80`` is ``[::]:80`` with
  ``scope_id`` = the index of ``lo``;
* ports are read with ``strtoul(base 0)`` (``0x50`` is 80, ``010`` is 8) and must be 1..65535;
* the first colon splits host and port, so an unbracketed ``::1`` does not parse.

Failures raise :class:`SockaddrError` with libsystemd's errno: ``EINVAL`` (the binding turns
that into ``ValueError("Cannot parse address")``) or ``ERANGE`` (an ``OSError``).
"""

from __future__ import annotations

import errno
import os
import socket

from .._record import record
from .numbers import _strto

__all__ = ["ParsedSockaddr", "SockaddrError", "parse_sockaddr"]

_UINT_MAX = 2**32 - 1
# IF_NAMESIZE - 1: the longest interface name if_nametoindex() can be asked about
_IFNAME_MAX = 15
# present when the kernel has IPv6: what the binding checks before choosing [::] for a bare port
_IF_INET6 = "/proc/net/if_inet6"


class SockaddrError(ValueError):
    """The address does not parse; ``errno`` is ``EINVAL`` or ``ERANGE``, ``text`` the input."""

    def __init__(self, err: int, text: str) -> None:
        self.errno = err
        self.text = text
        super().__init__(f"cannot parse address {text!r}: {os.strerror(err)}")


@record
class ParsedSockaddr:
    """A parsed address: family, packed address (``inet_pton``), port, scope id (0: none)."""

    family: int
    packed: bytes
    port: int
    scope_id: int = 0


def _atou(text: str) -> int:
    """The binding's ``safe_atou()``: ``strtoul(base 0)`` without systemd's ``0b``/``0o``."""
    value, overflowed, end = _strto(text, 0, unsigned=True)
    if overflowed:
        raise SockaddrError(errno.ERANGE, text)
    if end == 0 or end != len(text):
        raise SockaddrError(errno.EINVAL, text)
    if text.startswith("-") or value > _UINT_MAX:
        raise SockaddrError(errno.ERANGE, text)
    return value


def _port(text: str, whole: str) -> int:
    try:
        value = _atou(text)
    except SockaddrError as exc:
        raise SockaddrError(exc.errno, whole) from None
    if not 0 < value <= 0xFFFF:
        raise SockaddrError(errno.EINVAL, whole)
    return value


def _assign(host: str, port: int, whole: str) -> ParsedSockaddr:
    """``assign_address()``: an IPv4 literal, else an interface name (IPv6 any, scoped)."""
    try:
        return ParsedSockaddr(socket.AF_INET, socket.inet_pton(socket.AF_INET, host), port)
    except OSError:
        pass
    if len(os.fsencode(host)) > _IFNAME_MAX:
        raise SockaddrError(errno.EINVAL, whole)
    try:
        index = socket.if_nametoindex(host) if host else 0
    except OSError:
        index = 0
    if index == 0:
        raise SockaddrError(errno.EINVAL, whole)
    return ParsedSockaddr(socket.AF_INET6, bytes(16), port, index)


def parse_sockaddr(text: str) -> ParsedSockaddr:
    """Parse *text* as python-systemd's ``parse_sockaddr()`` does (see the module docstring)."""
    if text.startswith("["):
        end = text.find("]", 1)
        if end < 0:
            raise SockaddrError(errno.EINVAL, text)
        try:
            packed = socket.inet_pton(socket.AF_INET6, text[1:end])
        except OSError:
            raise SockaddrError(errno.EINVAL, text) from None
        rest = text[end + 1 :]
        port = 0
        if rest:
            if not rest.startswith(":"):
                raise SockaddrError(errno.EINVAL, text)
            port = _port(rest[1:], text)
        return ParsedSockaddr(socket.AF_INET6, packed, port)
    host, colon, port_text = text.partition(":")
    if colon:
        return _assign(host, _port(port_text, text), text)
    try:
        port = _atou(text)
    except SockaddrError:
        return _assign(text, 0, text)
    if not 0 < port <= 0xFFFF:
        raise SockaddrError(errno.EINVAL, text)
    if os.access(_IF_INET6, os.F_OK):
        return ParsedSockaddr(socket.AF_INET6, bytes(16), port)
    return ParsedSockaddr(socket.AF_INET, bytes(4), port)
