"""``socket_activation.testing``: test a server the way a service manager runs it.

A pytest plugin (registered through the ``pytest11`` entry point; fixtures only) and the
classes behind it, usable without pytest too:

- :class:`ActivatedServer` (fixture ``activated_server``): a command started on sockets the
  test bound, passed as systemd passes them, with a recording ``NOTIFY_SOCKET``;
- :class:`NotifySocket` (fixture ``notify_socket``): a ``NOTIFY_SOCKET`` for code in the test
  process, answering ``BARRIER=1``;
- :func:`activate` (fixture ``systemd_activation_env``): this process, socket-activated for a
  ``with`` block;
- :func:`restart_under_load` (fixture ``restart_under_load``) and :class:`LoadResult`.

Nothing is imported until a name is used: ``import socket_activation`` never imports this
package, and loading the plugin into a test run that uses none of it costs almost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .environment import Activation, activate
    from .errors import ReloadError, ServerError, ServerExitedError, ServerNotReadyError
    from .load import LoadResult, Request, measure_load, restart_under_load
    from .notify import Message, NotifySocket
    from .server import ActivatedServer

__all__ = [
    "ActivatedServer",
    "Activation",
    "LoadResult",
    "Message",
    "NotifySocket",
    "ReloadError",
    "Request",
    "ServerError",
    "ServerExitedError",
    "ServerNotReadyError",
    "activate",
    "measure_load",
    "restart_under_load",
]

_WHERE = {
    "ActivatedServer": "server",
    "Activation": "environment",
    "activate": "environment",
    "LoadResult": "load",
    "Request": "load",
    "restart_under_load": "load",
    "measure_load": "load",
    "Message": "notify",
    "NotifySocket": "notify",
    "ReloadError": "errors",
    "ServerError": "errors",
    "ServerExitedError": "errors",
    "ServerNotReadyError": "errors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
