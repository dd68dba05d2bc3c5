"""Placeholders in a command's arguments, replaced with the sockets it is given.

For servers that take an fd number or an address on their command line
(``hypercorn --bind fd://{fd:web}``, ``daphne --fd {fd:web}``), ``exec`` and ``supervise``
expand, in every argument after ``--``:

- ``{fd:NAME}``: the fd number the socket named NAME has in the program (3, 4, ... in order);
- ``{fd}``: the same for the only socket (an error when there are none or several);
- ``{address:NAME}`` and ``{address}``: its resolved address, as ``inspect`` prints it
  (``127.0.0.1:8080`` with the real port when bound to port 0, ``/run/app.sock``, ``@name``);
- ``{{fd:NAME}}`` (any of the forms above with doubled braces): that text, with single braces.

Every other brace is left as it is, so shell (``${HOME}``), Python (``-c "{'a': 1}"``), JSON
and template arguments pass through unchanged. A placeholder that cannot be expanded (a name
no socket has or several share, an empty name) is an error: :func:`expand` finds it before
a program is started. Pure: values in, strings out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .._errors import ConfigError
from .._record import record
from .spawn import SD_LISTEN_FDS_START

__all__ = ["Slot", "expand", "slots"]

# an escaped placeholder ({{fd:web}}), or a placeholder: {fd}, {fd:NAME}, {address}, ...
_PLACEHOLDER = re.compile(
    r"\{\{(?P<escaped>(?:fd|address)(?::[^{}]*)?)\}\}"
    r"|\{(?P<kind>fd|address)(?P<colon>:(?P<name>[^{}]*))?\}"
)


@record
class Slot:
    """One socket as the program sees it: its name, its fd there, its address."""

    name: str
    fd: int
    address: str


def slots(names: Sequence[str], addresses: Sequence[str]) -> tuple[Slot, ...]:
    """The slots of sockets passed in this order, at fds 3, 4, ..."""
    return tuple(
        Slot(name, SD_LISTEN_FDS_START + index, address)
        for index, (name, address) in enumerate(zip(names, addresses, strict=True))
    )


def expand(argv: Sequence[str], sockets: Sequence[Slot]) -> list[str]:
    """*argv* with every placeholder replaced; :class:`ConfigError` naming the argument
    and the placeholder for the first one that cannot be."""
    out: list[str] = []
    for index, arg in enumerate(argv):

        def value(match: re.Match[str], index: int = index, arg: str = arg) -> str:
            if match["escaped"] is not None:
                return "{" + match["escaped"] + "}"
            return _value(index, arg, match, sockets)

        out.append(_PLACEHOLDER.sub(value, arg))
    return out


def _value(index: int, arg: str, match: re.Match[str], sockets: Sequence[Slot]) -> str:
    kind, colon, name = match["kind"], match["colon"], match["name"]
    field = f"{kind}{colon or ''}"
    have = ", ".join(f"{s.name!r} (fd {s.fd})" for s in sockets) or "no sockets"
    if colon is None:
        if len(sockets) != 1:
            raise _error(
                index, arg, f"{{{kind}}} needs exactly one socket, have {have}; use {{{kind}:NAME}}"
            )
        chosen = sockets[0]
    elif not name:
        raise _error(index, arg, f"{{{field}}} names no socket (have: {have})")
    else:
        matches = [s for s in sockets if s.name == name]
        if not matches:
            raise _error(index, arg, f"no socket named {name!r} for {{{field}}} (have: {have})")
        if len(matches) > 1:
            fds = ", ".join(str(s.fd) for s in matches)
            raise _error(index, arg, f"{len(matches)} sockets are named {name!r} (fds {fds})")
        chosen = matches[0]
    return str(chosen.fd) if kind == "fd" else chosen.address


def _error(index: int, arg: str, message: str) -> ConfigError:
    return ConfigError(message, source=f"{arg!r} (word {index + 1} after '--')")
