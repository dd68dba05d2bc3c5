"""socket-activation: a server's listening sockets, the way production runs it.

Re-exports only. Heavy modules (pydantic, config sources, asyncio) load on first use, so an
activated start-up pays for nothing it does not touch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ._address import AddressKind, ListenAddress, Transport
from ._errors import (
    ActivationError,
    AddressError,
    AddressInUseError,
    BindError,
    ConfigError,
    HandoffError,
    InheritedSocketError,
    LaunchdError,
    NotifyError,
    SocketActivationError,
    UnitFileError,
    UnixPathError,
)
from .listeners import (
    cleanup_unix_socket,
    create_listener,
    create_listeners,
    create_udp_listener,
    create_udp_listeners,
    has_so_reuseport,
)

if TYPE_CHECKING:
    from .config import ListenSpec, ServerConfig

try:
    __version__ = version("socket-activation")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

# name -> module that defines it; imported on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "ServerConfig": ".config",
    "ListenSpec": ".config",
}

__all__ = [
    "ActivationError",
    "AddressError",
    "AddressInUseError",
    "AddressKind",
    "BindError",
    "ConfigError",
    "HandoffError",
    "InheritedSocketError",
    "LaunchdError",
    "ListenAddress",
    "ListenSpec",
    "NotifyError",
    "ServerConfig",
    "SocketActivationError",
    "Transport",
    "UnitFileError",
    "UnixPathError",
    "__version__",
    "cleanup_unix_socket",
    "create_listener",
    "create_listeners",
    "create_udp_listener",
    "create_udp_listeners",
    "has_so_reuseport",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'socket_activation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
