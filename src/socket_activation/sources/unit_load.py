"""Loading the ``[Socket]`` section of one unit, line by line, as systemd 252's ``Socket`` struct
fills: each directive's parser (:mod:`socket_activation.unitfile.socket_values`), the
``Listen*=`` grammar (:mod:`.unit_listen`), then ``socket_verify``. The public entry points and
the rules are in :mod:`.unit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import UnitFileError
from ..net.address import AddressKind, ListenAddress, Transport
from ..unitfile import socket_values as sv
from ..unitfile.parser import Assignment, UnitFile
from ..unitfile.specifiers import SpecifierContext, split_unit_name
from .unit_listen import LISTEN_TRANSPORTS, OTHER_LISTEN, OtherPort, parse_listen

__all__ = ["NOT_APPLIED", "SocketUnit", "UNSUPPORTED_LISTEN", "socket_unit"]

UNSUPPORTED_LISTEN = OTHER_LISTEN
# [Socket] directives systemd honours that the library neither applies nor runs: a note each
NOT_APPLIED = frozenset(
    [
        "PipeSize",
        "MessageQueueMaxMessages",
        "MessageQueueMessageSize",
        "SocketProtocol",
        "SmackLabel",
        "SmackLabelIPIn",
        "SmackLabelIPOut",
        "SELinuxContextFromNet",
        "MaxConnectionsPerSource",
        "ExecStartPre",
        "ExecStartPost",
        "ExecStopPre",
        "ExecStopPost",
        "Symlinks",
        "Writable",
    ]
)
_BOOLEANS = {
    "ReusePort": "reuse_port",
    "FreeBind": "free_bind",
    "Transparent": "transparent",
    "KeepAlive": "keep_alive",
    "NoDelay": "no_delay",
    "PassCredentials": "pass_credentials",
    "Accept": "accept",
    "Broadcast": "broadcast",
    "PassSecurity": "pass_security",
    "PassPacketInfo": "pass_packet_info",
}
# config_parse_int options systemd applies only when >= 0 (-1 is its "unset")
_INTS = {"Priority": "priority", "Mark": "mark", "IPTTL": "ip_ttl"}
_SPANS = {
    "KeepAliveTimeSec": "keep_alive_time_sec",
    "KeepAliveIntervalSec": "keep_alive_interval_sec",
}
_SIZES = {"ReceiveBuffer": "receive_buffer", "SendBuffer": "send_buffer"}
_MODES = {"SocketMode": "socket_mode", "DirectoryMode": "directory_mode"}
_OWNERS = {"SocketUser": "socket_user", "SocketGroup": "socket_group"}
# systemd's Backlog= is unsigned; listen() takes an int and the kernel caps a larger (negative
# as int) value at somaxconn, exactly as it caps INT_MAX: so INT_MAX stands for all of them
_INT_MAX = 2**31 - 1
# socket_init() defaults (R73-R76) where they differ from the library's own
_DEFAULTS: dict[str, Any] = {
    "backlog": _INT_MAX,
    "socket_mode": 0o666,
    "directory_mode": 0o755,
    "bind_ipv6_only": "default",
    "max_connections": 64,
    "accept": False,
}


@dataclass
class SocketUnit:
    """What one ``.socket`` unit asks for, as systemd would load it."""

    name: str
    path: str
    listen: list[dict[str, Any]] = field(default_factory=list)  # ListenSpec dicts, in order
    origins: list[str] = field(default_factory=list)  # file:line of each entry of listen
    warnings: list[str] = field(default_factory=list)  # what systemd warns about too
    notes: list[str] = field(default_factory=list)  # what the library does not do (systemd does)
    unsupported: list[str] = field(default_factory=list)  # file:line of ports not opened
    ports: list[tuple[str, str]] = field(default_factory=list)  # (ListenX, value), every port
    accept: bool = False
    max_connections: int = 64
    service: str | None = None


def socket_unit(
    unit: UnitFile, *, strict: bool = False, environ: Mapping[str, str] | None = None
) -> SocketUnit:
    """Interpret the ``[Socket]`` section of a parsed unit; see the module docstring."""
    _check_instance(unit)
    loader = _Loader(unit, unit.specifiers(environ), strict)
    for a in unit.section("Socket"):
        loader.assignment(a)
    return loader.finish()


def _check_instance(unit: UnitFile) -> None:
    prefix, instance, suffix = split_unit_name(unit.name)
    if instance == "":
        raise UnitFileError(
            f"{unit.name} is a template: systemd runs only its instances; name one "
            f"({prefix}@INSTANCE{suffix}, or --instance INSTANCE)",
            path=unit.path,
        )


@dataclass
class _Loader:
    """The state of one unit's load: systemd's ``Socket`` struct, line by line."""

    unit: UnitFile
    specifiers: SpecifierContext
    strict: bool
    options: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULTS))
    fdname: str | None = None
    service: str | None = None
    ports: list[tuple[ListenAddress | OtherPort, Assignment]] = field(default_factory=list)
    symlinks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def assignment(self, a: Assignment) -> None:
        """Apply one line; a value systemd ignores becomes a warning (strict: an error)."""
        try:
            self._apply(a)
        except sv.IgnoredValueError as exc:
            if self.strict:
                raise a.error(str(exc)) from None
            self.warnings.append(a.warning(str(exc)))
        except sv.RefusedUnitError as exc:
            raise a.error(f"{exc}; systemd refuses to load this unit") from None

    def _expand(self, a: Assignment, refuse: bool = False) -> str:
        try:
            return self.specifiers.expand(a.value)
        except ValueError as exc:
            message = f"Failed to resolve unit specifiers in '{a.value}': {exc}"
            raise (
                sv.RefusedUnitError(message)
                if refuse
                else sv.IgnoredValueError(f"{message}, ignoring")
            ) from None

    def _apply(self, a: Assignment) -> None:
        key, value = a.key, a.value
        if key in LISTEN_TRANSPORTS or key in OTHER_LISTEN:
            self._listen(a)
        elif key in _BOOLEANS:
            self.options[_BOOLEANS[key]] = sv.boolean(value)
        elif key in _SIZES:
            self.options[_SIZES[key]] = sv.iec_size(value) or None  # 0: not applied
        elif key in _MODES:
            self.options[_MODES[key]] = sv.mode(value)
        elif key in _OWNERS:
            owner = sv.user_group(self._expand(a, refuse=True)) if value else None
            self.options[_OWNERS[key]] = owner
        elif key == "Backlog":
            self.options["backlog"] = min(sv.unsigned(value), _INT_MAX)
        elif key in _INTS:
            number = sv.integer(value)
            self.options[_INTS[key]] = number if number >= 0 else None
        elif key in _SPANS:  # applied in whole seconds, only when > 0
            self.options[_SPANS[key]] = min(sv.seconds(value), _INT_MAX) or None
        elif key == "KeepAliveProbes":
            self.options["keep_alive_probes"] = sv.unsigned(value) or None
        elif key == "IPTOS":
            self.options["ip_tos"] = sv.ip_tos(value)
        elif key == "Timestamping":
            self.options["timestamping"] = sv.timestamping(value)
        elif key == "TCPCongestion":
            self.options["tcp_congestion"] = value or None
        elif key == "MaxConnections":
            self.options["max_connections"] = sv.unsigned(value)
        elif key == "BindIPv6Only":
            self.options["bind_ipv6_only"] = sv.bind_ipv6_only(value)
        elif key == "BindToDevice":
            device = sv.ifname(value)
            self.options["bind_to_device"] = None if device is sv.RESET else device
        elif key == "DeferAcceptSec":
            seconds = sv.seconds(value)
            self.options["defer_accept_sec"] = min(seconds, _INT_MAX) or None  # 0: not applied
        elif key == "FileDescriptorName":
            self.fdname = sv.fdname(self._expand(a)) if value else None
        elif key == "Service":
            self._service(a)
        elif key in NOT_APPLIED:
            self._not_applied(a)

    def _listen(self, a: Assignment) -> None:
        if not a.value:  # R69: an empty Listen*= removes every port listed before
            self.ports.clear()
            return
        port, notice = parse_listen(a.key, self._expand(a))
        if notice:
            self.warnings.append(a.warning(notice))
        self.ports.append((port, a))

    def _service(self, a: Assignment) -> None:
        name = self._expand(a)
        if not name.endswith(".service"):
            raise sv.IgnoredValueError(f"Unit must be of type service, ignoring: {a.value}")
        self.service = name

    def _not_applied(self, a: Assignment) -> None:
        if a.key == "Symlinks":
            self.symlinks = [] if not a.value else [*self.symlinks, *a.value.split()]
        if not a.value:
            return
        verb = "run" if a.key.startswith("Exec") else "applied"
        self.notes.append(a.warning(f"not {verb} by socket-activation (systemd would)"))

    def finish(self) -> SocketUnit:
        """``socket_verify``, then the result."""
        unit, o = self.unit, self.options
        result = SocketUnit(unit.name, unit.path, warnings=list(unit.warnings) + self.warnings)
        result.notes = self.notes
        result.accept, result.max_connections = bool(o["accept"]), o["max_connections"]
        result.service = self.service
        self._verify()
        fdname = self.fdname if self.fdname is not None else unit.name
        for port, a in self.ports:
            if isinstance(port, OtherPort):
                result.ports.append((port.key, port.value))
                result.unsupported.append(a.where)
                message = (
                    "not supported by socket-activation; under systemd the process also gets "
                    "this fd, so fd numbers and order differ"
                )
                if self.strict:
                    raise a.error(message)
                result.notes.append(a.warning(message))
                continue
            result.ports.append((port.transport.directive, port.body))
            result.listen.append({"address": port, "name": fdname, **o})
            result.origins.append(a.where)
        return result

    def _verify(self) -> None:
        where = self.unit.path
        o = self.options
        if not self.ports:
            raise UnitFileError(
                "Unit has no Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...); "
                "systemd refuses to load it",
                path=where,
            )
        if self.symlinks:
            nodes = [p for p, _ in self.ports if _is_file_node(p)]
            if len(nodes) != 1:
                raise UnitFileError(
                    "Symlinks= is set, but the unit has none or more than one node in the file "
                    "system: systemd refuses this unit",
                    path=where,
                )
        if not o["accept"]:
            return
        for port, a in self.ports:
            if isinstance(port, OtherPort) or port.transport is Transport.DATAGRAM:
                raise a.error(
                    "Accept=yes, but this port is non-accepting (datagram, FIFO, netlink, …): "
                    "systemd refuses this unit"
                )
        if o["max_connections"] <= 0:
            raise UnitFileError(
                "Accept=yes with MaxConnections=0: systemd refuses this unit", path=where
            )
        if self.service is not None:
            raise UnitFileError(
                "Accept=yes with Service=: systemd refuses this unit (an accepting socket "
                "starts instances of its own template service)",
                path=where,
            )


def _is_file_node(port: ListenAddress | OtherPort) -> bool:
    """``socket_find_symlink_target``: a FIFO, or a socket with a path in the file system."""
    if isinstance(port, OtherPort):
        return port.key == "ListenFIFO"
    return port.kind is AddressKind.UNIX
