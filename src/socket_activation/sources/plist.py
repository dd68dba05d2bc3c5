"""The launchd source: a plist's ``Sockets`` dictionary (SPEC.md R102) -> ``listen`` specs.

Each key of ``Sockets`` is a socket name: it becomes the ListenSpec ``name`` (the fd name) and is
added to ``launchd_names``, the names asked of ``launch_activate_socket``. A value is one socket
dictionary or an array of them (several sockets under one name). Keys read:

- ``SockType``: ``stream`` (default), ``dgram``, ``seqpacket``;
- ``SockPathName`` (a Unix socket; ``SockPathMode`` is a *decimal* integer, 438 = 0666;
  ``SockPathOwner``/``SockPathGroup`` uid/gid or names);
- ``SockNodeName`` and ``SockServiceName`` (a port number, as string or integer, or a service
  name from /etc/services); no node name means any address. ``SockFamily`` ``IPv4`` or ``IPv6``
  (any case) narrows an any-address socket to ``0.0.0.0`` or ``[::]`` with IPV6_V6ONLY; any
  other value leaves both (dual-stack);
- ``SockPassive`` must be true (the default): a connecting socket is not a listener.

``Bonjour``, ``MulticastGroup``, ``SockProtocol`` (implied by the type) and
``SecureSocketWithKey`` do not change what is bound here: they are accepted with a warning.
Errors are UnitFileError naming the file and ``Sockets.<name>.<key>``.
"""

from __future__ import annotations

import os
import plistlib
import socket
from pathlib import Path
from typing import Any

from .._errors import AddressError, UnitFileError
from ..net.address import ListenAddress, Transport
from ._data import SourceData

__all__ = ["plist_values", "read_plist"]

_TYPES = {"stream": Transport.STREAM, "dgram": Transport.DATAGRAM, "seqpacket": Transport.SEQPACKET}
_WARN_ONLY = ("Bonjour", "MulticastGroup", "SecureSocketWithKey", "SockProtocol")
_KNOWN = frozenset(
    {
        "SockType",
        "SockPassive",
        "SockNodeName",
        "SockServiceName",
        "SockFamily",
        "SockPathName",
        "SockPathMode",
        "SockPathOwner",
        "SockPathGroup",
        *_WARN_ONLY,
    }
)


def read_plist(path: str | os.PathLike[str]) -> SourceData:
    """Read the plist at *path* (XML or binary) and turn its ``Sockets`` into specs."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            document = plistlib.load(stream)
    except OSError as exc:
        raise UnitFileError(f"cannot read plist: {exc.strerror or exc}", path=str(file)) from None
    except Exception as exc:  # plistlib raises several types (InvalidFileException, ExpatError…)
        raise UnitFileError(f"invalid plist: {exc}", path=str(file)) from None
    return plist_values(document, str(file))


def plist_values(document: Any, where: str) -> SourceData:
    """The ``listen`` list and ``launchd_names`` of a loaded plist *document*."""
    if not isinstance(document, dict):
        raise UnitFileError("the plist's top level must be a dictionary", path=where)
    sockets = document.get("Sockets")
    if not isinstance(sockets, dict) or not sockets:
        raise UnitFileError("needs a non-empty Sockets dictionary", path=where, key="Sockets")
    data = SourceData()
    listen: list[dict[str, Any]] = []
    for name, value in sockets.items():
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            key = f"Sockets.{name}"
            if not isinstance(entry, dict):
                raise UnitFileError("must be a dictionary or an array of them", path=where, key=key)
            data.origins[f"listen.{len(listen)}"] = f"{where} {key}"
            listen.append(_spec(name, entry, where, key, data.warnings))
    data.values["listen"] = listen
    data.values["launchd_names"] = list(sockets)
    data.origins["listen"] = data.origins["launchd_names"] = f"{where} Sockets"
    return data


def _spec(name: str, entry: dict[str, Any], where: str, key: str, warnings: list[str]) -> Any:
    def fail(message: str, field: str) -> UnitFileError:
        return UnitFileError(message, path=where, key=f"{key}.{field}")

    for field in entry:
        if field not in _KNOWN:
            warnings.append(f"{where}: {key}.{field}: unknown key, ignoring")
        elif field in _WARN_ONLY:
            warnings.append(f"{where}: {key}.{field}: not used when binding, ignoring")
    if entry.get("SockPassive", True) is not True:
        raise fail("only passive (listening) sockets are supported", "SockPassive")
    type_name = entry.get("SockType", "stream")
    if type_name not in _TYPES:
        raise fail(f"expected stream, dgram or seqpacket, got {type_name!r}", "SockType")
    transport = _TYPES[type_name]
    spec: dict[str, Any] = {"name": name}
    try:
        if "SockPathName" in entry:
            path = entry["SockPathName"]
            if not isinstance(path, str) or not path.startswith("/"):
                raise fail(f"expected an absolute path, got {path!r}", "SockPathName")
            spec["address"] = ListenAddress.parse(path, transport)
            if "SockPathMode" in entry:
                mode = entry["SockPathMode"]
                if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
                    raise fail(
                        f"expected a decimal mode like 438 (0666), got {mode!r}", "SockPathMode"
                    )
                spec["socket_mode"] = mode
            for field, target in (
                ("SockPathOwner", "socket_user"),
                ("SockPathGroup", "socket_group"),
            ):
                if field in entry:
                    spec[target] = str(entry[field])
        else:
            spec.update(_inet(entry, transport, fail))
    except AddressError as exc:
        raise UnitFileError(str(exc), path=where, key=key) from None
    return spec


def _inet(entry: dict[str, Any], transport: Transport, fail: Any) -> dict[str, Any]:
    service = entry.get("SockServiceName")
    if service is None:
        raise fail("a socket needs SockServiceName (a port) or SockPathName", "SockServiceName")
    if isinstance(service, bool) or not isinstance(service, (int, str)):
        raise fail(f"expected a port or service name, got {service!r}", "SockServiceName")
    text = str(service)
    if not text.isdigit():
        protocol = "udp" if transport is Transport.DATAGRAM else "tcp"
        try:
            text = str(socket.getservbyname(text, protocol))
        except OSError:
            raise fail(f"unknown service name {service!r}", "SockServiceName") from None
    family = str(entry.get("SockFamily", "")).lower()
    node = entry.get("SockNodeName")
    options: dict[str, Any] = {}
    if node is None:
        if family == "ipv4":
            body = f"0.0.0.0:{text}"
        elif family == "ipv6":
            body = f"[::]:{text}"
            options["bind_ipv6_only"] = "ipv6-only"
        else:
            body = text
    elif not isinstance(node, str):
        raise fail(f"expected a host name or address, got {node!r}", "SockNodeName")
    else:
        body = f"[{node}]:{text}" if ":" in node else f"{node}:{text}"
    return {"address": ListenAddress.parse(body, transport), **options}
