"""``--unit`` and ``--instance``: which file a unit name means, and under which name it loads.

- ``--unit PATH``: the file; its name is the file's name.
- ``--unit DIR/foo@bar.socket`` where only the template ``DIR/foo@.socket`` exists: the template
  file, loaded as the instance ``foo@bar.socket`` (%i is ``bar``), as systemd loads it.
- ``--unit DIR/foo@.socket --instance bar``: the same.
- ``--unit NAME.socket`` (no ``/``, no such file here): looked up on the search path of
  ``--manager`` (system by default) with its drop-ins from every directory, as systemd does.

A bare template without an instance is refused by the unit source (systemd never runs one).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._errors import ConfigError

__all__ = ["add_instance_option", "unit_files"]


def add_instance_option(group: argparse._ArgumentGroup) -> None:
    """``--instance NAME``: load a template unit (``foo@.socket``) as ``foo@NAME.socket``."""
    group.add_argument(
        "--instance",
        metavar="NAME",
        help="load a template --unit foo@.socket as its instance foo@NAME.socket",
    )
    group.add_argument(
        "--manager",
        choices=("system", "user"),
        help="the manager a bare --unit NAME.socket is looked up for (its search path and "
        "drop-ins from every directory) and whose specifiers apply (default: system, or "
        "the user manager for a file under .../systemd/user/)",
    )


def unit_files(
    units: list[str] | None, instance: str | None
) -> tuple[list[str], list[str | None]] | None:
    """The unit files to read and the name each loads under; None without ``--unit``."""
    if not units:
        if instance:
            raise ConfigError("--instance needs a template --unit foo@.socket", source="--instance")
        return None
    paths: list[str] = []
    names: list[str | None] = []
    for unit in units:
        path, name = _one(unit, instance)
        paths.append(path)
        names.append(name)
    return paths, names


def _one(unit: str, instance: str | None) -> tuple[str, str | None]:
    from ..unitfile.specifiers import split_unit_name  # only with --unit: not on demo's path

    path = Path(unit)
    prefix, own, suffix = split_unit_name(path.name)
    if instance is not None:
        if own != "":
            raise ConfigError(
                f"--instance needs a template unit (foo@.socket), got {unit!r}",
                source="--instance",
            )
        if not instance or "/" in instance:
            raise ConfigError(f"invalid instance name {instance!r}", source="--instance")
        return unit, f"{prefix}@{instance}{suffix}"
    if own and not os.path.exists(path):
        template = path.with_name(f"{prefix}@{suffix}")
        if template.is_file():
            return str(template), path.name
    return unit, None
