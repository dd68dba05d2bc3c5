"""socket-activation: a server's listening sockets, the way production runs it.

Re-exports only, every one of them loaded on first use (PEP 562): an activated start-up pays
for what it touches and nothing else (pydantic, config sources, asyncio, even ``re``).
"""

from __future__ import annotations

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
    NotifyMessageError,
    SocketActivationError,
    UnitFileError,
    UnixPathError,
)

# A literal, read by hatchling at build time: importlib.metadata would cost ~50 ms here.
__version__ = "0.1.0"

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True

if TYPE_CHECKING:
    from typing import Any

    from ._resolve import Resolution, ResolvedSocket, resolve
    from .config import ListenSpec, ServerConfig
    from .launchd.activation import LaunchdActivation, launch_activate_socket, launchd_activation
    from .listeners import (
        cleanup_unix_socket,
        create_listener,
        create_listeners,
        create_tcp_udp_listeners,
        create_udp_listener,
        create_udp_listeners,
        has_so_reuseport,
    )
    from .net.address import AddressKind, ListenAddress, Transport
    from .restart.handoff import HandoffResult, Upgrader, announce_ready, upgrade
    from .restart.supervisor import Supervisor
    from .sources import load_config
    from .systemd.activation import (
        SD_LISTEN_FDS_START,
        InheritedFd,
        SystemdActivation,
        listen_fds,
        listen_fds_with_names,
        systemd_activation,
    )
    from .systemd.fdstore import fdstore_add, fdstore_remove
    from .systemd.notify import (
        NotifyResult,
        barrier,
        errno_status,
        extend_timeout,
        mainpid,
        notify,
        ready,
        reloading,
        status,
        stopping,
        watchdog_ping,
        watchdog_trigger,
    )
    from .systemd.watchdog import (
        WatchdogThread,
        start_watchdog,
        watchdog_enabled,
        watchdog_keepalive,
    )

# name -> module that defines it
_LAZY: dict[str, str] = {
    **dict.fromkeys(("AddressKind", "ListenAddress", "Transport"), ".net.address"),
    **dict.fromkeys(("Resolution", "ResolvedSocket", "resolve"), "._resolve"),
    **dict.fromkeys(
        (
            "SD_LISTEN_FDS_START",
            "InheritedFd",
            "SystemdActivation",
            "listen_fds",
            "listen_fds_with_names",
            "load_config",
            "systemd_activation",
        ),
        ".systemd.activation",
    ),
    **dict.fromkeys(("ListenSpec", "ServerConfig"), ".config"),
    "load_config": ".sources",
    **dict.fromkeys(("fdstore_add", "fdstore_remove"), ".systemd.fdstore"),
    **dict.fromkeys(("HandoffResult", "Upgrader", "announce_ready", "upgrade"), ".restart.handoff"),
    **dict.fromkeys(
        ("LaunchdActivation", "launch_activate_socket", "launchd_activation"), ".launchd.activation"
    ),
    "Supervisor": ".restart.supervisor",
    **dict.fromkeys(
        (
            "NotifyResult",
            "barrier",
            "errno_status",
            "extend_timeout",
            "mainpid",
            "notify",
            "ready",
            "reloading",
            "status",
            "stopping",
            "watchdog_ping",
            "watchdog_trigger",
        ),
        ".systemd.notify",
    ),
    **dict.fromkeys(
        ("WatchdogThread", "start_watchdog", "watchdog_enabled", "watchdog_keepalive"),
        ".systemd.watchdog",
    ),
    **dict.fromkeys(
        (
            "cleanup_unix_socket",
            "create_listener",
            "create_listeners",
            "create_tcp_udp_listeners",
            "create_udp_listener",
            "create_udp_listeners",
            "has_so_reuseport",
        ),
        ".listeners",
    ),
}

__all__ = [
    "Supervisor",
    "launchd_activation",
    "launch_activate_socket",
    "LaunchdActivation",
    "upgrade",
    "announce_ready",
    "Upgrader",
    "HandoffResult",
    "NotifyResult",
    "barrier",
    "errno_status",
    "extend_timeout",
    "mainpid",
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog_ping",
    "watchdog_trigger",
    "WatchdogThread",
    "start_watchdog",
    "watchdog_enabled",
    "watchdog_keepalive",
    "fdstore_add",
    "fdstore_remove",
    "SD_LISTEN_FDS_START",
    "ActivationError",
    "AddressError",
    "AddressInUseError",
    "AddressKind",
    "BindError",
    "ConfigError",
    "HandoffError",
    "InheritedFd",
    "InheritedSocketError",
    "LaunchdError",
    "ListenAddress",
    "ListenSpec",
    "NotifyError",
    "NotifyMessageError",
    "Resolution",
    "ResolvedSocket",
    "ServerConfig",
    "SocketActivationError",
    "SystemdActivation",
    "Transport",
    "UnitFileError",
    "UnixPathError",
    "__version__",
    "cleanup_unix_socket",
    "create_listener",
    "create_listeners",
    "create_tcp_udp_listeners",
    "create_udp_listener",
    "create_udp_listeners",
    "has_so_reuseport",
    "listen_fds",
    "listen_fds_with_names",
    "load_config",
    "resolve",
    "systemd_activation",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'socket_activation' has no attribute {name!r}")
    import importlib  # here, not at the top: ~0.4 ms on the activated start-up path

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
