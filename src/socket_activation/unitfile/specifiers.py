"""Unit-file specifiers (``%n``, ``%i``, ``%t`` …), expanded as the loading manager would.

SPEC.md R86: the values depend on the unit's name and on which manager loads it. A unit file in
a user unit directory (a path with ``/systemd/user/`` in it, e.g. ``~/.config/systemd/user``,
``/usr/lib/systemd/user``) is loaded by the user manager: ``%t`` is ``$XDG_RUNTIME_DIR`` and
``%h``/``%u``/``%U`` are the invoking user's. Any other path belongs to the system manager:
``%t`` is ``/run``, ``%h`` is ``/root``, the user ``root``.

Pure apart from the look-ups a :class:`SpecifierContext` makes lazily (host name, passwd
entries), each overridable for tests. An unknown specifier raises :class:`ValueError` naming it.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

__all__ = ["SpecifierContext", "manager_for_path", "split_unit_name", "unescape_unit_name"]


def manager_for_path(path: str | os.PathLike[str]) -> str:
    """``"user"`` for a unit under a ``.../systemd/user/`` directory, else ``"system"``."""
    parts = PurePath(path).parts
    return (
        "user"
        if any(a == "systemd" and b == "user" for a, b in itertools.pairwise(parts))
        else "system"
    )


def split_unit_name(name: str) -> tuple[str, str | None, str]:
    """``foo@bar.socket`` -> (``foo``, ``bar``, ``.socket``); no instance -> None (R85)."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    prefix, at, instance = stem.partition("@")
    return prefix, (instance if at else None), f".{suffix}" if suffix else ""


def unescape_unit_name(text: str) -> str:
    """``unit_name_unescape``: ``-`` -> ``/`` and ``\\xHH`` decoded (R85)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "-":
            out.append("/")
            i += 1
        elif c == "\\" and text[i + 1 : i + 2] == "x" and len(text) >= i + 4:
            try:
                out.append(chr(int(text[i + 2 : i + 4], 16)))
            except ValueError:
                raise ValueError(f"invalid escape in unit name part {text!r}") from None
            i += 4
        else:
            out.append(c)
            i += 1
    return "".join(out)


@dataclass
class SpecifierContext:
    """What specifiers expand to for one unit loaded by one manager (``system``/``user``)."""

    unit_name: str
    manager: str = "system"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    hostname: str | None = None  # None: socket.gethostname()
    uid: int | None = None  # user manager only; None: os.getuid()

    def expand(self, text: str) -> str:
        """*text* with every ``%x`` replaced; ``%%`` is ``%``; unknown ones raise ValueError."""
        if "%" not in text:
            return text
        out: list[str] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c != "%":
                out.append(c)
                i += 1
                continue
            if i + 1 >= len(text):
                raise ValueError(f"'%' at the end of {text!r}: write '%%' for a literal '%'")
            out.append(self.value(text[i + 1], text))
            i += 2
        return "".join(out)

    def value(self, letter: str, text: str = "") -> str:
        """The expansion of ``%<letter>``."""
        prefix, instance, suffix = split_unit_name(self.unit_name)
        user = self.manager == "user"
        simple: dict[str, Callable[[], str]] = {
            "%": lambda: "%",
            "n": lambda: self.unit_name,
            "N": lambda: self.unit_name.removesuffix(suffix),
            "p": lambda: prefix,
            "P": lambda: unescape_unit_name(prefix),
            "i": lambda: instance or "",
            "I": lambda: unescape_unit_name(instance or ""),
            "j": lambda: prefix.rpartition("-")[2],
            "J": lambda: unescape_unit_name(prefix.rpartition("-")[2]),
            "f": lambda: "/" + unescape_unit_name(instance if instance is not None else prefix),
            "t": lambda: self._runtime_dir() if user else "/run",
            "h": lambda: self._home() if user else "/root",
            "u": lambda: self._user_name() if user else "root",
            "U": lambda: str(self._uid()) if user else "0",
            "g": lambda: self._group_name() if user else "root",
            "G": lambda: str(self._gid()) if user else "0",
            "s": lambda: self._shell() if user else "/bin/sh",
            "H": self._hostname,
            "l": lambda: self._hostname().partition(".")[0],
            "T": lambda: self.environ.get("TMPDIR", "/tmp") if user else "/tmp",  # noqa: S108
            "V": lambda: self.environ.get("TMPDIR", "/var/tmp") if user else "/var/tmp",  # noqa: S108
            "S": lambda: self._xdg("XDG_STATE_HOME", ".local/state") if user else "/var/lib",
            "C": lambda: self._xdg("XDG_CACHE_HOME", ".cache") if user else "/var/cache",
            "L": lambda: (
                self._xdg("XDG_STATE_HOME", ".local/state") + "/log" if user else "/var/log"
            ),
            "E": lambda: self._xdg("XDG_CONFIG_HOME", ".config") if user else "/etc",
        }
        if letter not in simple:
            raise ValueError(f"unknown specifier %{letter} in {text!r} (write %% for a '%')")
        return simple[letter]()

    # -- look-ups, only when a specifier needs them -----------------------------------------

    def _uid(self) -> int:
        return os.getuid() if self.uid is None else self.uid

    def _passwd(self) -> tuple[str, int, str, str]:
        import pwd

        try:
            entry = pwd.getpwuid(self._uid())
        except KeyError:
            return str(self._uid()), self._uid(), "/", "/bin/sh"
        return entry.pw_name, entry.pw_gid, entry.pw_dir, entry.pw_shell

    def _user_name(self) -> str:
        return self._passwd()[0]

    def _gid(self) -> int:
        return self._passwd()[1]

    def _group_name(self) -> str:
        import grp

        try:
            return grp.getgrgid(self._gid()).gr_name
        except KeyError:
            return str(self._gid())

    def _home(self) -> str:
        return self.environ.get("HOME") or self._passwd()[2]

    def _shell(self) -> str:
        return self.environ.get("SHELL") or self._passwd()[3]

    def _runtime_dir(self) -> str:
        return self.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{self._uid()}"

    def _xdg(self, variable: str, default: str) -> str:
        return self.environ.get(variable) or f"{self._home()}/{default}"

    def _hostname(self) -> str:
        return self.hostname if self.hostname is not None else socket.gethostname()
