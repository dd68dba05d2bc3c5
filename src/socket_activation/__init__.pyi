"""Generated from socket_activation._EXPORTS by `python -m tests.support.export_stub`;
do not edit: change the table in __init__.py and run that command."""

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
    ReloadError,
    SocketActivationError,
    UnitFileError,
    UnixPathError,
)
from .config import (
    ListenSpec,
    ServerConfig,
)
from .sources import (
    load_config,
)
from ._resolve import (
    Resolution,
    ResolvedSocket,
    resolve,
)
from .listeners import (
    cleanup_unix_socket,
    create_listener,
    create_listeners,
    create_tcp_udp_listeners,
    create_udp_listener,
    create_udp_listeners,
    has_so_reuseport,
)
from .net.address import (
    AddressKind,
    ListenAddress,
    Transport,
)
from .systemd.activation import (
    SD_LISTEN_FDS_START,
    InheritedFd,
    SystemdActivation,
    listen_fds,
    listen_fds_with_names,
    systemd_activation,
)
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
from .systemd.fdstore import (
    fdstore_add,
    fdstore_remove,
)
from .launchd.activation import (
    LaunchdActivation,
    launch_activate_socket,
    launchd_activation,
)
from .restart.handoff import (
    HandoffResult,
    Upgrader,
    announce_ready,
    upgrade,
)
from .restart.supervisor import (
    Supervisor,
)
from .restart.reload import (
    ReloadOutcome,
    request_reload,
)
from .restart.handoff_control import (
    ReloadService,
    serve_reload_requests,
)
from .restart.retire import (
    retire,
    retire_at_exit,
)

__version__: str
_EXPORTS: dict[str, tuple[str, ...]]

__all__ = [
    "__version__",
    "ActivationError",
    "AddressError",
    "AddressInUseError",
    "BindError",
    "ConfigError",
    "HandoffError",
    "InheritedSocketError",
    "LaunchdError",
    "NotifyError",
    "NotifyMessageError",
    "ReloadError",
    "SocketActivationError",
    "UnitFileError",
    "UnixPathError",
    "ListenSpec",
    "ServerConfig",
    "load_config",
    "Resolution",
    "ResolvedSocket",
    "resolve",
    "cleanup_unix_socket",
    "create_listener",
    "create_listeners",
    "create_tcp_udp_listeners",
    "create_udp_listener",
    "create_udp_listeners",
    "has_so_reuseport",
    "AddressKind",
    "ListenAddress",
    "Transport",
    "SD_LISTEN_FDS_START",
    "InheritedFd",
    "SystemdActivation",
    "listen_fds",
    "listen_fds_with_names",
    "systemd_activation",
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
    "LaunchdActivation",
    "launch_activate_socket",
    "launchd_activation",
    "HandoffResult",
    "Upgrader",
    "announce_ready",
    "upgrade",
    "Supervisor",
    "ReloadOutcome",
    "request_reload",
    "ReloadService",
    "serve_reload_requests",
    "retire",
    "retire_at_exit",
]
