"""The systemd ``.socket`` unit source: one ListenSpec per ``Listen*=`` line, in order.

Reads a unit and its drop-ins with :mod:`socket_activation.unitfile.parser` and interprets the
``[Socket]`` directives that shape the sockets, as systemd 252 does (SPEC.md J, K):

- ``ListenStream=``, ``ListenDatagram=``, ``ListenSequentialPacket=``: one socket each, in line
  order; an empty assignment resets the list (R69); specifiers expanded (R67, R86); a value
  systemd would ignore (port 0, a bare IP, a relative path, a host name: R65) is ignored with a
  warning, as systemd does.
- ``ListenFIFO=``, ``ListenSpecial=``, ``ListenNetlink=``, ``ListenMessageQueue=``,
  ``ListenUSBFunction=``: not supported. By default the line is skipped with a warning naming
  it (so every unit shipped with systemd loads); ``strict=True`` raises instead. Either way the
  process would get one fd fewer than under systemd, so the warning says so.
- ``BindIPv6Only``, ``Backlog``, ``SocketMode``, ``DirectoryMode``, ``SocketUser``,
  ``SocketGroup``, ``ReusePort``, ``FreeBind``, ``Transparent``, ``BindToDevice``,
  ``KeepAlive``, ``NoDelay``, ``ReceiveBuffer``, ``SendBuffer``, ``DeferAcceptSec``,
  ``PassCredentials``, ``Accept``: applied to every socket of the unit; an invalid value is an
  error naming file, line and key. systemd's defaults are kept where they differ from the
  library's: ``SocketMode=0666``, ``DirectoryMode=0755``, ``BindIPv6Only=default``,
  ``Backlog=`` INT_MAX (the kernel caps it at ``net.core.somaxconn``).
- ``FileDescriptorName=``: the sockets' name; default the unit's name with ``.socket`` (R78);
  an invalid name is a warning and the default is kept, as in systemd.

Other known keys (``Service=``, ``MaxConnections=``, ``Exec*``, …) do not shape the sockets and
are ignored; unknown keys are warnings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import AddressError, UnitFileError
from ..net.address import ListenAddress, Transport
from ..unitfile.parser import Assignment, UnitFile, read_unit
from ..unitfile.values import parse_boolean, parse_mode, parse_size, parse_timespan
from ._data import SourceData

__all__ = ["SocketUnit", "UNSUPPORTED_LISTEN", "read_socket_unit", "read_units", "socket_unit"]

LISTEN_TRANSPORTS = {
    "ListenStream": Transport.STREAM,
    "ListenDatagram": Transport.DATAGRAM,
    "ListenSequentialPacket": Transport.SEQPACKET,
}
UNSUPPORTED_LISTEN = frozenset(
    {"ListenFIFO", "ListenSpecial", "ListenNetlink", "ListenMessageQueue", "ListenUSBFunction"}
)
_BOOLEANS = {
    "ReusePort": "reuse_port",
    "FreeBind": "free_bind",
    "Transparent": "transparent",
    "KeepAlive": "keep_alive",
    "NoDelay": "no_delay",
    "PassCredentials": "pass_credentials",
    "Accept": "accept",
}
_SIZES = {"ReceiveBuffer": "receive_buffer", "SendBuffer": "send_buffer"}
_MODES = {"SocketMode": "socket_mode", "DirectoryMode": "directory_mode"}
_STRINGS = {"SocketUser": "socket_user", "SocketGroup": "socket_group"}
# Backlog= is an unsigned int; systemctl show reports INT_MAX for the default (R74) and listen()
# takes an int, so larger values are capped there (the kernel caps again at somaxconn)
_INT_MAX = 2**31 - 1
# systemd.socket(5) defaults that differ from the library's own (R74, R75, R76): a unit's
# sockets are bound exactly as the manager would bind them
_DEFAULTS: dict[str, Any] = {
    "backlog": _INT_MAX,
    "socket_mode": 0o666,
    "directory_mode": 0o755,
    "bind_ipv6_only": "default",
}
_IFNAMSIZ = 16


@dataclass
class SocketUnit:
    """What one ``.socket`` unit asks for: its sockets (spec dicts, in order) and warnings."""

    name: str
    path: str
    listen: list[dict[str, Any]] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)  # file:line of each Listen*= line
    warnings: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # file:line of skipped Listen*= lines


def read_socket_unit(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> SocketUnit:
    """Read and interpret the ``.socket`` unit at *path* (and its drop-ins)."""
    return socket_unit(read_unit(path, name=name), strict=strict, environ=environ)


def read_units(
    paths: Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> SourceData:
    """The ``listen`` list of several units, their sockets concatenated in the given order.

    Raises UnitFileError when the units name no socket this library can bind: binding the
    library's default address instead would not be what the unit says.
    """
    data = SourceData()
    listen: list[dict[str, Any]] = []
    unsupported: list[str] = []
    for path in paths:
        unit = read_socket_unit(path, strict=strict, environ=environ)
        for spec, origin in zip(unit.listen, unit.origins, strict=True):
            data.origins[f"listen.{len(listen)}"] = origin
            listen.append(spec)
        data.warnings.extend(unit.warnings)
        unsupported.extend(unit.unsupported)
    if not listen:
        where = ", ".join(str(p) for p in paths)
        detail = f" (unsupported lines: {', '.join(unsupported)})" if unsupported else ""
        raise UnitFileError(
            f"no ListenStream=, ListenDatagram= or ListenSequentialPacket= socket{detail}",
            path=where,
        )
    data.values["listen"] = listen
    data.origins["listen"] = str(paths[0])
    return data


def socket_unit(
    unit: UnitFile, *, strict: bool = False, environ: Mapping[str, str] | None = None
) -> SocketUnit:
    """Interpret the ``[Socket]`` section of a parsed unit."""
    result = SocketUnit(unit.name, unit.path, warnings=list(unit.warnings))
    specifiers = unit.specifiers(environ)
    default_name = unit.name
    fdname = default_name
    options: dict[str, Any] = dict(_DEFAULTS)
    addresses: list[tuple[ListenAddress, Assignment]] = []
    for a in unit.section("Socket"):
        value = a.value
        if a.key in LISTEN_TRANSPORTS or a.key in UNSUPPORTED_LISTEN:
            if not value:  # R69: an empty Listen*= resets every address listed before
                addresses.clear()
                result.unsupported.clear()
                continue
            if a.key in UNSUPPORTED_LISTEN:
                message = (
                    "not supported by socket-activation; under systemd the process also gets "
                    "this fd, so fd numbers and order differ"
                )
                if strict:
                    raise a.error(message)
                result.warnings.append(a.warning(message))
                result.unsupported.append(a.where)
                continue
            address = _listen_address(a, _expand(a, specifiers), strict, result.warnings)
            if address is not None:
                addresses.append((address, a))
        elif a.key == "FileDescriptorName":
            text = _expand(a, specifiers)
            if not text:
                fdname = default_name
            elif _valid_fdname(text):
                fdname = text
            else:
                result.warnings.append(
                    a.warning(f"invalid file descriptor name {text!r}, keeping {fdname!r}")
                )
        else:
            _option(a, options, specifiers)
    _check_accept(unit, options, addresses)
    for address, a in addresses:
        result.listen.append({"address": address, "name": fdname, **options})
        result.origins.append(a.where)
    return result


def _expand(a: Assignment, specifiers: Any) -> str:
    try:
        text: str = specifiers.expand(a.value)
    except ValueError as exc:
        raise a.error(str(exc)) from None
    return text


def _listen_address(
    a: Assignment, text: str, strict: bool, warnings: list[str]
) -> ListenAddress | None:
    """The address of a Listen*= line, or None (with a warning) where systemd ignores it."""
    try:
        address = ListenAddress.parse(text, LISTEN_TRANSPORTS[a.key], allow_port_zero=False)
        if text.startswith(("datagram:", "seqpacket:", "stream:")):
            raise AddressError(f"not a systemd address: {text!r}")
        if address.is_inet and address.host is not None and not _is_ip(address.host):
            raise AddressError(f"systemd accepts only literal IP addresses, got {text!r}")
        if a.key == "ListenSequentialPacket" and not address.is_unix:
            raise AddressError(f"ListenSequentialPacket= needs a Unix socket, got {text!r}")
    except AddressError as exc:
        if strict:
            raise a.error(str(exc)) from None
        warnings.append(a.warning(f"{exc}; ignoring, as systemd does"))
        return None
    return address


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _valid_fdname(name: str) -> bool:
    # fdname_is_valid (R19, R78): printable ASCII without ':', at most 255 bytes
    return len(name) <= 255 and all(0x20 <= ord(c) < 0x7F and c != ":" for c in name)


def _option(a: Assignment, options: dict[str, Any], specifiers: Any) -> None:
    """Apply one non-Listen directive to *options*; an invalid value raises UnitFileError."""
    key, value = a.key, a.value
    try:
        if key in _BOOLEANS:
            name = _BOOLEANS[key]
            # an empty assignment restores the default: the kernel's for these two, else off
            unset = None if name in ("keep_alive", "no_delay") else False
            options[name] = parse_boolean(value) if value else unset
        elif key in _SIZES:
            options[_SIZES[key]] = parse_size(value) if value else None
        elif key in _MODES:
            options[_MODES[key]] = parse_mode(value) if value else _DEFAULTS[_MODES[key]]
        elif key in _STRINGS:
            options[_STRINGS[key]] = _expand(a, specifiers) or None
        elif key == "Backlog":
            options["backlog"] = _backlog(value) if value else None
        elif key == "BindIPv6Only":
            if value and value not in ("default", "both", "ipv6-only"):
                raise ValueError(f"expected default, both or ipv6-only, got {value!r}")
            options["bind_ipv6_only"] = value or "default"
        elif key == "BindToDevice":
            if value and (len(value) >= _IFNAMSIZ or any(c in value for c in "/: \t")):
                raise ValueError(f"invalid network interface name {value!r}")
            options["bind_to_device"] = value or None
        elif key == "DeferAcceptSec":
            seconds = parse_timespan(value) if value else 0.0
            options["defer_accept_sec"] = seconds or None
    except ValueError as exc:
        raise a.error(str(exc)) from None


def _backlog(value: str) -> int:
    from ..systemd.numbers import ParseIntError, safe_atou

    try:
        backlog = safe_atou(value)
    except ParseIntError:
        raise ValueError(f"expected an unsigned integer, got {value!r}") from None
    if backlog == 0:
        raise ValueError("Backlog=0 is not supported (the library needs at least 1)")
    return min(backlog, _INT_MAX)


def _check_accept(
    unit: UnitFile, options: dict[str, Any], addresses: list[tuple[ListenAddress, Assignment]]
) -> None:
    """R72: Accept=yes with a datagram socket makes systemd refuse the unit."""
    if not options.get("accept"):
        return
    for address, a in addresses:
        if address.transport is Transport.DATAGRAM:
            raise a.error(
                "Accept=yes with a datagram socket: systemd refuses this unit "
                "(these sockets are non-accepting)"
            )
