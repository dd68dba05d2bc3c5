"""Configuration sources and their precedence, in one place: :func:`load_config`.

Four sources produce the same :class:`~socket_activation.config.ServerConfig`:

- the environment, ``<PREFIX><FIELD>`` (:mod:`.env`);
- a TOML file, standalone or the ``[tool.socket-activation]`` table of a ``pyproject.toml``
  (:mod:`.toml`);
- systemd ``.socket`` units with their drop-ins (:mod:`.unit`);
- a launchd plist's ``Sockets`` dictionary (:mod:`.plist`).

**Precedence: explicit values > environment > file.** A field set by a higher layer replaces the
lower one; when a higher layer says where to listen with ``host``/``port``/``uds``, the ``listen``
list of a lower layer is dropped (one decision about addresses, not a mix of two). Files layer in
the order TOML, plist, unit (a later file wins), but naming more than one file is unusual.

Each source module is imported only when its source is used, so ``tomllib`` and ``plistlib`` stay
off the start-up path of apps that read only the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._data import SourceData
from .env import read_env

if TYPE_CHECKING:
    from ..config import ServerConfig

__all__ = ["SourceData", "load_config", "merge", "validate"]

LOGGER_NAME = "socket_activation.config"

# fields that say where to listen the simple way; setting one drops a lower layer's `listen`
_SIMPLE_ADDRESS_FIELDS = frozenset({"host", "port", "uds"})

PathArg = str | os.PathLike[str]


def load_config(
    *,
    overrides: Mapping[str, Any] | None = None,
    env_prefix: str | None = "SOCKET_ACTIVATION_",
    environ: Mapping[str, str] | None = None,
    toml: PathArg | None = None,
    unit: PathArg | Sequence[PathArg] | None = None,
    plist: PathArg | None = None,
    strict: bool = False,
    on_warning: Callable[[str], None] | None = None,
    unit_names: Sequence[str | None] | None = None,
    unit_manager: str | None = None,
) -> ServerConfig:
    """The ServerConfig from every source given: explicit values > environment > file.

    *overrides* are the explicit values (``ServerConfig`` field names). *env_prefix* ``None``
    ignores the environment; *environ* (default ``os.environ``) is also what unit specifiers
    such as ``%t`` read. *unit* may be one path or a
    list (a service with several socket units: their sockets in the given order);
    *unit_names* the name each loads under when it is not the file's (``foo@bar.socket`` for
    the template file ``foo@.socket``). A bare unit name (``app.socket``, not a file here) is
    looked up on the search path of *unit_manager* (``system``, the default, or ``user``) with
    its drop-ins from every directory. Warnings (an
    unknown key in a unit, a ``Listen*=`` value systemd would ignore, an unsupported socket type)
    go to *on_warning*, by default the ``socket_activation.config`` logger; ``strict=True``
    makes unsupported and ignored ``Listen*=`` lines errors instead.

    Raises :class:`ConfigError` (or its :class:`UnitFileError` leaf) naming the variable, file
    and line, or key that is wrong; nothing else escapes.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    layers: list[SourceData] = []
    if toml is not None:
        from .toml import read_toml

        layers.append(read_toml(toml))
    if plist is not None:
        from .plist import read_plist

        layers.append(read_plist(plist))
    if unit is not None:
        from .unit import read_units

        paths = [unit] if isinstance(unit, (str, os.PathLike)) else list(unit)
        layers.append(
            read_units(paths, strict=strict, environ=env, names=unit_names, manager=unit_manager)
        )
    if env_prefix is not None:
        layers.append(read_env(env, env_prefix))
    if overrides:
        explicit = SourceData()
        for key, value in overrides.items():
            explicit.set(key, value, f"explicit value {key!r}")
        layers.append(explicit)
    merged = merge(layers)
    if merged.warnings:
        warn = on_warning or _log_warning
        for message in merged.warnings:
            warn(message)
    return validate(merged)


def _log_warning(message: str) -> None:
    import logging  # only when there is something to log: logging costs ms at import

    logging.getLogger(LOGGER_NAME).warning("%s", message)


def merge(layers: Sequence[SourceData]) -> SourceData:
    """Layer *layers*, lowest precedence first, into one :class:`SourceData`."""
    result = SourceData()
    for layer in layers:
        if _SIMPLE_ADDRESS_FIELDS & layer.values.keys() and "listen" not in layer.values:
            result.values.pop("listen", None)
            for key in [k for k in result.origins if k == "listen" or k.startswith("listen.")]:
                del result.origins[key]
        result.values.update(layer.values)
        for key in layer.values:
            for old in [k for k in result.origins if k.startswith(f"{key}.")]:
                del result.origins[old]
        result.origins.update(layer.origins)
        result.warnings.extend(layer.warnings)
    return result


def validate(data: SourceData) -> ServerConfig:
    """Build the model; a validation error becomes a ConfigError naming where the value was."""
    from pydantic import ValidationError

    from ..config import ServerConfig

    try:
        return ServerConfig.model_validate(data.values)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(str(part) for part in first["loc"])
        origin = _origin(data.origins, loc)
        message = str(first["msg"]).removeprefix("Value error, ")
        shown = repr(first.get("input"))
        if first["type"] == "extra_forbidden":
            message = "unknown setting"
        elif shown not in message and first["type"] != "missing":
            message = f"{message}, got {shown}"
        where = ".".join(loc)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{where}: {message}{more}", source=origin) from None


def _origin(origins: Mapping[str, str], loc: tuple[str, ...]) -> str:
    """The most specific recorded origin of the value at *loc* (``listen.2`` before ``listen``)."""
    for end in range(len(loc), 0, -1):
        origin = origins.get(".".join(loc[:end]))
        if origin is not None:
            return origin
    return "configuration"
