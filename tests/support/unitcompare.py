"""Compare the library's reading of a ``.socket`` unit with systemd's own (tests/support/sdverify).

:func:`disagreements` returns a list of human-readable differences, empty when the two agree on
everything the library reads: whether the unit loads at all, every port (kind, address, order),
the fd name, every socket option, ``Accept=``/``MaxConnections=``, and which lines of the
``[Socket]`` section (plus unknown keys and sections anywhere) get a warning.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from socket_activation._errors import UnitFileError
from socket_activation.config import ListenSpec
from socket_activation.net.address import AddressKind, ListenAddress
from socket_activation.sources.unit import SocketUnit, read_socket_unit
from socket_activation.unitfile.values import parse_timespan
from tests.support.sdverify import Verified

__all__ = ["disagreements", "library_view", "systemd_address"]

_INT_MAX = 2**31 - 1
_BOOLS = {
    "KeepAlive": "keep_alive",
    "NoDelay": "no_delay",
    "FreeBind": "free_bind",
    "Transparent": "transparent",
    "PassCredentials": "pass_credentials",
    "Broadcast": "broadcast",
    "PassSecurity": "pass_security",
    "PassPacketInfo": "pass_packet_info",
}
_SPANS = {
    "DeferAcceptSec": "defer_accept_sec",
    "KeepAliveTimeSec": "keep_alive_time_sec",
    "KeepAliveIntervalSec": "keep_alive_interval_sec",
}


def systemd_address(address: ListenAddress) -> str:
    """How ``socket_address_print`` prints *address* in the dump."""
    if address.kind is AddressKind.INET:
        if address.host is None:
            return f"[::]:{address.port}"
        ip = ipaddress.ip_address(address.host)
        if ip.version == 6:
            return f"[{ip.compressed}]:{address.port}"
        return f"{ip}:{address.port}"
    if address.kind is AddressKind.ABSTRACT:
        return f"@{_cescape(address.path or '')}"
    if address.kind is AddressKind.UNIX:
        return _cescape(address.path or "")
    return address.body


_CESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"', "'": "\\'"}  # fmt: skip


def _cescape(text: str) -> str:
    """``cescape``, as sockaddr_pretty prints a Unix socket path."""
    out = []
    for c in text:
        if c in _CESCAPES:
            out.append(_CESCAPES[c])
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def library_view(
    path: Path, name: str, manager: str, environ: dict[str, str]
) -> SocketUnit | UnitFileError:
    """The library's reading, or the UnitFileError it raised."""
    try:
        return read_socket_unit(path, name=name, manager=manager, environ=environ)
    except UnitFileError as exc:
        return exc


def _ports(unit: SocketUnit) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    listen = iter(unit.listen)
    for key, value in unit.ports:
        if key in ("ListenStream", "ListenDatagram", "ListenSequentialPacket"):
            out.append((key, systemd_address(next(listen)["address"])))
        else:
            out.append((key, value))
    return out


def _expected_options(spec: ListenSpec, unit: SocketUnit) -> dict[str, str | None]:
    """The dump lines the library's option values would produce (None: line absent)."""
    yes_no = {True: "yes", False: "no"}
    view: dict[str, str | None] = {
        "BindIPv6Only": spec.bind_ipv6_only,
        "SocketMode": f"{spec.socket_mode:04o}",
        "DirectoryMode": f"{spec.directory_mode:04o}",
        "FileDescriptorName": spec.name,
        "ReusePort": "yes" if spec.reuse_port else None,
        "BindToDevice": spec.bind_to_device,
        "ReceiveBuffer": _opt_str(spec.receive_buffer),
        "SendBuffer": _opt_str(spec.send_buffer),
        "MaxConnections": str(unit.max_connections) if unit.accept else None,
        "Priority": _opt_str(spec.priority),
        "Mark": _opt_str(spec.mark),
        "IPTOS": _opt_str(spec.ip_tos),
        "IPTTL": _opt_str(spec.ip_ttl),
        "KeepAliveProbes": _opt_str(spec.keep_alive_probes),
        "Timestamping": spec.timestamping if spec.timestamping != "off" else None,
        "TCPCongestion": spec.tcp_congestion or "n/a",
    }
    for key, field in _BOOLS.items():
        view[key] = yes_no[bool(getattr(spec, field))]
    user, group = spec.socket_user, spec.socket_group
    view["SocketUser"] = (user or "n/a") if (user or group) else None
    view["SocketGroup"] = (group or "n/a") if (user or group) else None
    return view


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def disagreements(ours: SocketUnit | UnitFileError, theirs: Verified) -> list[str]:
    """Every difference between the two readings; [] when they agree."""
    if isinstance(ours, UnitFileError) or not theirs.loaded:
        if isinstance(ours, UnitFileError) and not theirs.loaded:
            return []
        return [f"loads: ours={not isinstance(ours, UnitFileError)} systemd={theirs.loaded}"]
    problems: list[str] = []
    if _ports(ours) != theirs.listen:
        problems.append(f"ports: ours={_ports(ours)} systemd={theirs.listen}")
    s = theirs.settings
    for raw in ours.listen:
        spec = ListenSpec.model_validate(raw)
        for key, value in _expected_options(spec, ours).items():
            if s.get(key) != value:
                problems.append(f"{key}: ours={value!r} systemd={s.get(key)!r}")
        backlog = min(int(s["Backlog"]), _INT_MAX)
        if spec.backlog != backlog:
            problems.append(f"Backlog: ours={spec.backlog} systemd={s['Backlog']}")
        for key, field in _SPANS.items():  # the dump rounds to seconds; applied in seconds
            ours_span = getattr(spec, field)
            shown = s.get(key)
            if (ours_span is None) != (shown is None) or (
                shown is not None
                and ours_span is not None
                and abs(parse_timespan(shown) - ours_span) >= 1
            ):
                problems.append(f"{key}: ours={ours_span!r} systemd={shown!r}")
        break  # every spec of a unit carries the same options
    if ours.accept != ("Accepted" in s):
        problems.append(f"Accept: ours={ours.accept} systemd={'Accepted' in s}")
    if not ours.listen and s.get("FileDescriptorName") is None:
        problems.append("systemd dump has no FileDescriptorName")
    ours_lines = _warned(ours.warnings, ours.path)
    theirs_lines = {line for f, line, _ in theirs.warnings if not f}
    if ours_lines != theirs_lines:
        problems.append(
            f"warned lines: ours={sorted(ours_lines)} systemd={sorted(theirs_lines)} "
            f"(ours: {ours.warnings}; systemd: {theirs.warnings})"
        )
    return problems


def _warned(warnings: list[str], path: str) -> set[int]:
    """The lines of the unit file itself (not of drop-ins) that have a warning."""
    out: set[int] = set()
    for w in warnings:
        m = re.match(re.escape(path) + r":(\d+): ", w)
        if m:
            out.add(int(m[1]))
    return out
