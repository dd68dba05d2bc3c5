"""The TOML source: a standalone file, or the ``[tool.socket-activation]`` table of a pyproject.

Keys are :class:`~socket_activation.config.ServerConfig` field names; ``-`` and ``_`` are the
same (``socket-mode`` = ``socket_mode``), also inside ``listen`` tables::

    port = 8080
    listen = ["127.0.0.1:8080", { address = "/run/app.sock", name = "api", socket-mode = "0600" }]

A file named ``pyproject.toml`` is read for its ``[tool.socket-activation]`` table only; without
that table it configures nothing. Errors name the file (and the key, for invalid values).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._data import SourceData

__all__ = ["TABLE", "read_toml", "toml_values"]

TABLE = ("tool", "socket-activation")


def read_toml(path: str | os.PathLike[str]) -> SourceData:
    """Read *path*; a syntax error or unreadable file raises ConfigError naming it."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read TOML file: {exc}", source=str(file)) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(file)) from None
    table: Any = document
    where = str(file)
    if file.name == "pyproject.toml":
        table = document.get(TABLE[0], {}).get(TABLE[1], {})
        where = f"{file} [tool.socket-activation]"
    if not isinstance(table, dict):
        raise ConfigError("[tool.socket-activation] must be a table", source=str(file))
    return toml_values(table, where)


def toml_values(table: dict[str, Any], where: str) -> SourceData:
    """The fields of a parsed TOML *table* found in *where*, keys normalised to field names."""
    data = SourceData()
    for key, raw in table.items():
        name = _field(key)
        value = raw
        if name == "listen" and isinstance(raw, list):
            value = [
                {_field(k): v for k, v in item.items()} if isinstance(item, dict) else item
                for item in raw
            ]
        data.set(name, value, f"{where} key {key!r}")
    return data


def _field(key: str) -> str:
    return key.replace("-", "_")
