"""socket-activation: a server's listening sockets, the way production runs it.

Re-exports only, every one of them loaded on first use (PEP 562): an activated start-up pays
for what it touches and nothing else (pydantic, config sources, asyncio, even ``re``).

``_EXPORTS`` below is the one list of the public names, each written once, with the module that
defines it. ``__all__``, ``dir()`` and the lazy loading are derived from it; type checkers read
``__init__.pyi``, which is generated from it (``python -m tests.support.export_stub``) and
checked against it by ``tests/test_exports.py``.
"""

from __future__ import annotations

# A literal, read by hatchling at build time: importlib.metadata would cost ~50 ms here.
__version__ = "0.1.0"

# module (relative to this package) -> the public names it defines
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._errors": (
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
    ),
    ".config": ("ListenSpec", "ServerConfig"),
    ".sources": ("load_config",),
    "._resolve": ("Resolution", "ResolvedSocket", "resolve"),
    ".listeners": (
        "cleanup_unix_socket",
        "create_listener",
        "create_listeners",
        "create_tcp_udp_listeners",
        "create_udp_listener",
        "create_udp_listeners",
        "has_so_reuseport",
    ),
    ".net.address": ("AddressKind", "ListenAddress", "Transport"),
    ".systemd.activation": (
        "SD_LISTEN_FDS_START",
        "InheritedFd",
        "SystemdActivation",
        "listen_fds",
        "listen_fds_with_names",
        "systemd_activation",
    ),
    ".systemd.notify": (
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
    ".systemd.watchdog": (
        "WatchdogThread",
        "start_watchdog",
        "watchdog_enabled",
        "watchdog_keepalive",
    ),
    ".systemd.fdstore": ("fdstore_add", "fdstore_remove"),
    ".launchd.activation": ("LaunchdActivation", "launch_activate_socket", "launchd_activation"),
    ".restart.handoff": ("HandoffResult", "Upgrader", "announce_ready", "upgrade"),
    ".restart.supervisor": ("Supervisor",),
    ".restart.reload": ("ReloadOutcome", "request_reload"),
    ".restart.handoff_control": ("ReloadService", "serve_reload_requests"),
    ".restart.retire": ("retire", "retire_at_exit"),
}

# name -> defining module: the table above, turned around once at import (a few µs)
_LAZY = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604 (the names are strings: the table's)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'socket_activation' has no attribute {name!r}")
    import importlib  # here, not at the top: ~0.4 ms on the activated start-up path

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
