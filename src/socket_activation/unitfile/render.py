"""Generate systemd ``.socket``/``.service`` units and a launchd plist from a ServerConfig.

The inverse of the unit and plist sources: loading the generated text back gives the same
sockets, in the same order, with the same names and options (the round-trip tests hold it).

This module puts the systemd units together (:func:`render_units`) and is where callers import
every rendering name from; the parts live next to it, one job each:

- :mod:`.socket_unit`: the ``.socket`` units (:func:`socket_groups`, :class:`SocketGroup`);
- :mod:`.service_unit`: the service and its reload wiring (:func:`render_service`,
  :func:`reload_lines`, ``RELOAD_MODES``);
- :mod:`.launchd_plist`: the launchd plist (:func:`render_plist`).

Pure: returns text (and plist bytes), writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ConfigError
from .launchd_plist import render_plist
from .service_unit import RELOAD_MODES, reload_lines, render_service
from .socket_unit import SocketGroup, render_socket, socket_groups

if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = [
    "RELOAD_MODES",
    "SocketGroup",
    "reload_lines",
    "render_plist",
    "render_service",
    "render_units",
    "socket_groups",
]


def render_units(
    config: ServerConfig,
    name: str,
    exec_start: str,
    *,
    reload: str = "none",
    reload_command: str = "socket-activation reload",
) -> dict[str, str]:
    """File name -> text: the ``.socket`` units, then the service (``NAME@.service`` for
    ``Accept=yes``) running *exec_start*, with the *reload* wiring (:func:`reload_lines`)."""
    _check_unit_name(name)
    groups = socket_groups(config, name)
    files = {g.unit: render_socket(g, name) for g in groups}
    accept = any(g.accept for g in groups)
    service = f"{name}@.service" if accept else f"{name}.service"
    files[service] = render_service(
        [g.unit for g in groups],
        name,
        exec_start,
        accept=accept,
        reload=reload,
        reload_command=reload_command,
    )
    return files


def _check_unit_name(name: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-")
    if not name or len(name) > 240 or not set(name) <= allowed:
        raise ConfigError(f"invalid unit name {name!r}: use letters, digits, ':', '_', '.', '-'")
