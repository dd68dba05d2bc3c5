"""A pure parser for systemd unit-file syntax (SPEC.md L, R79-R86), with drop-ins.

What it does, as systemd 252's ``config_parse`` does:

- ``[Section]`` headers; ``key=value`` with whitespace around ``=`` and at both ends ignored;
  lines whose first non-blank character is ``#`` or ``;`` are comments, also inside a
  continuation;
- a trailing unescaped ``\\`` joins the next line: the backslash becomes one space and the next
  line is appended as it is ("web\\⏎name" -> "web name");
- ``X-`` sections and keys are ignored silently; an unknown section or key (for ``.socket``
  units: any key systemd 252 does not know) is a *warning*, returned with ``file:line``, and
  loading continues; an assignment outside a section or without ``=`` is a warning too;
- drop-ins ``NAME.d/*.conf`` next to the unit, and for an instance ``foo@bar.socket`` also the
  template's ``foo@.socket.d/``, are applied after the unit in lexical order of file name (the
  instance's file wins when both directories have one of the same name; one that links to
  ``/dev/null`` masks it).

Values stay text here; the interpretation of a key (booleans, sizes, specifiers: see
:mod:`._unitvalues`, :mod:`._specifiers`) belongs to its consumer. Nothing but
:class:`UnitFileError` (naming file, line and key) escapes this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import UnitFileError
from .keys import KNOWN_KEYS
from .specifiers import SpecifierContext, manager_for_path, split_unit_name

__all__ = [
    "Assignment",
    "UnitFile",
    "dropin_paths",
    "parse_unit_text",
    "read_unit",
]

# systemd's LONG_LINE_MAX: a (joined) line longer than this fails the load
LONG_LINE_MAX = 1024 * 1024
_WHITESPACE = " \t\n\r"
_COMMENTS = "#;"
# read_line ends a line at \n, \r\n, \r or NUL
_LINE_END = re.compile(r"\r\n|\r|\n|\0")


@dataclass(frozen=True)
class Assignment:
    """One ``key=value`` line: the text as written (after continuation), and where it was."""

    section: str
    key: str
    value: str
    path: str
    line: int

    @property
    def where(self) -> str:
        """``file:line``."""
        return f"{self.path}:{self.line}"

    def error(self, message: str) -> UnitFileError:
        """A UnitFileError about this assignment (file, line and key named)."""
        return UnitFileError(message, path=self.path, line=self.line, key=self.key)

    def warning(self, message: str) -> str:
        """A warning about this assignment, in the same ``file:line: key=: message`` shape."""
        return f"{self.where}: {self.key}=: {message}"


@dataclass
class UnitFile:
    """A unit file and its drop-ins: every assignment in the order systemd applies them."""

    name: str
    path: str
    manager: str
    assignments: list[Assignment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropins: list[str] = field(default_factory=list)

    def section(self, name: str) -> list[Assignment]:
        """The assignments of section *name*, in order."""
        return [a for a in self.assignments if a.section == name]

    def specifiers(self, environ: Mapping[str, str] | None = None) -> SpecifierContext:
        """The specifier context of this unit, for the manager that would load it."""
        return SpecifierContext(
            self.name, self.manager, dict(os.environ) if environ is None else environ
        )


def known_keys_for(unit_name: str) -> Mapping[str, frozenset[str]] | None:
    """The keys systemd knows per section for this unit type; None: do not check keys."""
    return KNOWN_KEYS if unit_name.endswith(".socket") else None


def parse_unit_text(
    text: str,
    path: str = "<unit>",
    *,
    known: Mapping[str, frozenset[str]] | None = None,
) -> tuple[list[Assignment], list[str]]:
    """The assignments of one file's *text*, and the warnings, each naming ``path:line``.

    *known* maps section -> keys; when given, other sections and keys are warned about and
    dropped. Raises UnitFileError for what fails a load in systemd: a broken section header,
    a line over 1 MiB.
    """
    parser = _Parser(path, known)
    continuation: str | None = None
    start = 0
    lines = _LINE_END.split(text.removeprefix("\ufeff"))
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        lead = raw.lstrip(_WHITESPACE)
        if lead and lead[0] in _COMMENTS:  # also inside a continuation (R80)
            continue
        if continuation is None:
            joined, start = raw, number
        else:
            joined = continuation + raw
        if len(joined) > LONG_LINE_MAX:
            raise UnitFileError("line longer than 1 MiB", path=path, line=start)
        if _ends_in_backslash(joined):
            continuation = joined[:-1] + " "
            continue
        continuation = None
        parser.line(joined, start)
    if continuation is not None:
        parser.line(continuation, start)
    return parser.assignments, parser.warnings


def _ends_in_backslash(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


@dataclass
class _Parser:
    """The state of one file's parse: the current section and what was found so far."""

    path: str
    known: Mapping[str, frozenset[str]] | None
    section: str | None = None
    skip_section: bool = False
    assignments: list[Assignment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def line(self, text: str, number: int) -> None:
        """Handle one logical line (continuations joined) that starts at line *number*."""
        where = f"{self.path}:{number}"
        stripped = text.strip(_WHITESPACE)
        if not stripped or stripped[0] in _COMMENTS:
            return
        if stripped.startswith(".include"):
            self.warnings.append(f"{where}: .include is not supported by systemd 252, ignoring")
            return
        if stripped.startswith("["):
            self._section(stripped, number)
            return
        if self.section is None:
            self.warnings.append(f"{where}: assignment outside of a section, ignoring")
            return
        if self.skip_section:
            return
        key, equals, value = stripped.partition("=")
        key = key.strip(_WHITESPACE)
        if not equals:
            self.warnings.append(f"{where}: missing '=' in {stripped!r}, ignoring line")
        elif not key:
            self.warnings.append(f"{where}: missing key name before '=', ignoring line")
        elif key.startswith("X-"):
            return
        elif self.known is not None and key not in self.known.get(self.section, frozenset()):
            self.warnings.append(
                f"{where}: unknown key {key!r} in section [{self.section}], ignoring"
            )
        else:
            self.assignments.append(
                Assignment(self.section, key, value.strip(_WHITESPACE), self.path, number)
            )

    def _section(self, stripped: str, number: int) -> None:
        name = stripped[1:-1]
        if not stripped.endswith("]") or not name or any(c in name for c in "[]"):
            raise UnitFileError(f"invalid section header {stripped!r}", path=self.path, line=number)
        self.section = name
        self.skip_section = self.known is not None and name not in self.known
        if self.skip_section and not name.startswith("X-"):
            self.warnings.append(f"{self.path}:{number}: unknown section [{name}], ignoring")


def dropin_paths(path: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """The drop-in files of the unit at *path* (named *name*, default its file name), in order.

    ``NAME.d/*.conf`` beside the unit, plus the template's ``PREFIX@SUFFIX.d/*.conf`` for an
    instance; sorted by file name, the instance's file winning a tie, ``/dev/null`` links
    masking.
    """
    unit = Path(path)
    name = name or unit.name
    prefix, instance, suffix = split_unit_name(name)
    names = [name]
    if instance:
        names.append(f"{prefix}@{suffix}")
    chosen: dict[str, Path] = {}
    for candidate in names:
        directory = unit.parent / f"{candidate}.d"
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".conf") and entry.name not in chosen:
                chosen[entry.name] = entry
    result: list[Path] = []
    for file_name in sorted(chosen):
        entry = chosen[file_name]
        try:
            if entry.is_symlink() and os.readlink(entry) == os.devnull:
                continue
            if not entry.is_file():
                continue
        except OSError:
            continue
        result.append(entry)
    return result


def read_unit(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    manager: str | None = None,
    dropins: list[Path] | None = None,
) -> UnitFile:
    """Read the unit at *path* and its drop-ins.

    *name* is the unit's name when it differs from the file name (an instance
    ``foo@bar.socket`` of the template file ``foo@.socket``). The manager (``system`` or
    ``user``) is *manager*, by default chosen from the path, see
    :func:`~._specifiers.manager_for_path`. *dropins* replaces the drop-ins beside the unit
    (:func:`.search.find_unit` gives those of every directory of a search path).
    """
    unit_path = Path(path)
    unit_name = name or unit_path.name
    known = known_keys_for(unit_name)
    unit = UnitFile(unit_name, str(unit_path), manager or manager_for_path(unit_path.absolute()))
    found = dropin_paths(unit_path, unit_name) if dropins is None else dropins
    for file in [unit_path, *found]:
        text = _read_text(file)
        assignments, warnings = parse_unit_text(text, str(file), known=known)
        unit.assignments.extend(assignments)
        unit.warnings.extend(warnings)
        if file != unit_path:
            unit.dropins.append(str(file))
    return unit


def _read_text(file: Path) -> str:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UnitFileError(f"cannot read: {exc.strerror or exc}", path=str(file)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnitFileError("not valid UTF-8", path=str(file), line=line) from None
