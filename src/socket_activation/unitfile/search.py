"""Find a unit by name on systemd's search path, with its drop-ins from every directory.

As systemd 252 does it (``lookup_paths_init``, ``unit_file_find_dropin_paths`` in dropin.c,
``conf_files_list_strv``):

- the unit file is the first ``NAME`` in the search path, in priority order (for an instance
  ``foo@bar.socket`` with no file of its own, the first template ``foo@.socket``);
- drop-in directories are looked up in every directory of the path, in the same order, and for
  each: ``NAME.d``, the template's ``foo@.socket.d``, then the ``-`` prefixes of the name
  (``web-api.socket`` also reads ``web-.socket.d``), and last of all the type's ``socket.d``;
- a ``.conf`` file name found in an earlier directory hides the same name in later ones; the
  files are then applied in lexical order of their names.

The search path is the manager's: ``/etc/systemd/system``, ``/run/systemd/system``,
``/usr/local/lib/systemd/system``, ``/lib/systemd/system``, ``/usr/lib/systemd/system`` for the
system manager; ``$XDG_CONFIG_HOME/systemd/user``, ``/etc/systemd/user``,
``$XDG_RUNTIME_DIR/systemd/user``, ``/run/systemd/user``, ``$XDG_DATA_HOME/systemd/user``,
``/usr/local/lib/systemd/user``, ``/usr/lib/systemd/user`` for a user manager (generator and
transient directories, which only a running manager fills, are left out).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._errors import UnitFileError
from .specifiers import split_unit_name

__all__ = ["dropin_files", "find_unit", "unit_search_path"]

_SYSTEM = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)


def unit_search_path(
    manager: str = "system", environ: Mapping[str, str] | None = None
) -> list[Path]:
    """The directories the *manager* (``system``/``user``) loads units from, highest first."""
    if manager == "system":
        return [Path(p) for p in _SYSTEM]
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    config = env.get("XDG_CONFIG_HOME") or f"{home}/.config"
    data = env.get("XDG_DATA_HOME") or f"{home}/.local/share"
    runtime = env.get("XDG_RUNTIME_DIR")
    paths = [f"{config}/systemd/user", "/etc/systemd/user"]
    if runtime:
        paths.append(f"{runtime}/systemd/user")
    paths += [
        "/run/systemd/user",
        f"{data}/systemd/user",
        "/usr/local/lib/systemd/user",
        "/usr/lib/systemd/user",
    ]
    return [Path(p) for p in paths]


def find_unit(name: str, lookup: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The file of unit *name* on *lookup*, and its drop-ins in the order they apply."""
    prefix, instance, suffix = split_unit_name(name)
    candidates = [name] if not instance else [name, f"{prefix}@{suffix}"]
    for candidate in candidates:
        for directory in lookup:
            path = directory / candidate
            if path.is_file() or path.is_symlink():
                if path.is_symlink() and os.path.realpath(path) == os.devnull:
                    raise UnitFileError(
                        f"unit {name} is masked (a link to /dev/null)", path=str(path)
                    )
                return path, dropin_files(name, lookup)
    where = ", ".join(str(d) for d in lookup)
    raise UnitFileError(f"no unit file {name} on the search path ({where})", path=name)


def _names(name: str) -> list[str]:
    """NAME, its template, then its '-' prefixes (each with its template): unit_file_find_dirs."""
    out: list[str] = []
    prefix, instance, suffix = split_unit_name(name)
    out.append(name)
    if instance is not None and instance != "":
        out.append(f"{prefix}@{suffix}")
    stem = prefix
    chopped = False
    while True:
        dash = stem.rfind("-")
        if dash <= 0:
            return out
        if dash + 1 < len(stem) or chopped:
            stem = stem[: dash + 1]
            break
        stem, chopped = stem[:dash], True
    built = f"{stem}@{instance}{suffix}" if instance else f"{stem}{suffix}"
    return out + _names(built)


def dropin_files(name: str, lookup: Sequence[Path]) -> list[Path]:
    """The ``.conf`` drop-ins of unit *name* from every directory of *lookup*, in order."""
    directories = [d / f"{n}.d" for d in lookup for n in _names(name)]
    kind = split_unit_name(name)[2].lstrip(".")
    directories += [d / f"{kind}.d" for d in lookup]
    chosen: dict[str, Path] = {}
    for directory in directories:
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".conf") and entry.name not in chosen:
                chosen[entry.name] = entry
    return [chosen[n] for n in sorted(chosen) if _readable(chosen[n])]


def _readable(entry: Path) -> bool:
    """A drop-in to read: a file, not a link to /dev/null (empty, so nothing to apply)."""
    try:
        return entry.is_file() and os.path.realpath(entry) != os.devnull
    except OSError:
        return False
