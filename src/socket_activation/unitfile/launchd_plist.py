"""A launchd plist from a ServerConfig: its ``Sockets`` dictionary, as the plist source reads it.

Socket keys are the names (``Listeners`` for unnamed sockets); several sockets of one name
become an array, in the config's order.

Pure: returns plist bytes, writes nothing.
"""

from __future__ import annotations

import plistlib
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ..net.address import AddressKind

if TYPE_CHECKING:
    from ..config import ListenSpec, ServerConfig

__all__ = ["render_plist"]


def render_plist(
    config: ServerConfig, label: str, program_arguments: list[str] | None = None
) -> bytes:
    """A launchd plist (XML) whose ``Sockets`` describe *config*; socket keys are the names
    (``Listeners`` for unnamed sockets), several sockets of one name become an array."""
    sockets: dict[str, list[dict[str, Any]]] = {}
    for spec in config.listen_specs():
        sockets.setdefault(spec.name or "Listeners", []).append(_plist_socket(spec, config))
    document: dict[str, Any] = {
        "Label": label,
        "ProgramArguments": program_arguments or ["socket-activation", "demo"],
        "EnvironmentVariables": {"SOCKET_ACTIVATION_LAUNCHD_NAMES": " ".join(sockets)},
        "Sockets": {k: v[0] if len(v) == 1 else v for k, v in sockets.items()},
        "RunAtLoad": False,
    }
    return plistlib.dumps(document, sort_keys=False)


def _plist_socket(spec: ListenSpec, config: ServerConfig) -> dict[str, Any]:
    address = spec.address
    entry: dict[str, Any] = {
        "SockType": {"stream": "stream", "datagram": "dgram", "seqpacket": "seqpacket"}[
            address.transport.value
        ]
    }
    if address.kind is AddressKind.UNIX:
        options = spec.bind_options(config)
        entry["SockPathName"] = address.path
        entry["SockPathMode"] = options.socket_mode  # plist integers are decimal (R102)
        for key, owner in (
            ("SockPathOwner", options.socket_user),
            ("SockPathGroup", options.socket_group),
        ):
            if owner:  # launchd takes a uid/gid number or a name
                entry[key] = int(owner) if owner.isdigit() else owner
        return entry
    if not address.is_inet:
        raise ConfigError(
            f"launchd has no {address.kind.value} sockets: {str(address)!r}", source="plist"
        )
    if address.host is not None:
        entry["SockNodeName"] = address.host
    elif spec.bind_ipv6_only == "ipv6-only":
        entry["SockFamily"] = "IPv6"
    entry["SockServiceName"] = str(address.port)
    return entry
