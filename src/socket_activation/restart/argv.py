"""Placeholders in a command's arguments, replaced with the sockets it is given.

For servers that take an fd number or an address on their command line
(``hypercorn --bind fd://{fd:web}``, ``daphne --fd {fd:web}``, ``granian --uds {address:api}``),
``exec`` and ``supervise`` expand, in every argument after ``--``:

- ``{fd:NAME}``: the fd number the socket named NAME has in the program (3, 4, ... in order);
- ``{fd}``: the same for the only socket (an error when there are none or several);
- ``{address:NAME}`` and ``{address}``: its resolved address, as ``inspect`` prints it
  (``127.0.0.1:8080`` with the real port when bound to port 0, ``/run/app.sock``, ``@name``);
- ``{{`` and ``}}``: a literal ``{`` and ``}`` (as in :meth:`str.format`).

Any other brace is an error, as is a name no socket has or several sockets share: all of them
are found by :func:`expand` before a program is started. Pure: values in, strings out.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._errors import ConfigError
from .._record import record
from .spawn import SD_LISTEN_FDS_START

__all__ = ["Slot", "expand", "slots"]

_FIELDS = ("fd", "address")


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
    return [_expand_one(index, arg, sockets) for index, arg in enumerate(argv)]


def _expand_one(index: int, arg: str, sockets: Sequence[Slot]) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(arg):
        char = arg[pos]
        if char in "{}" and arg.startswith(char * 2, pos):
            out.append(char)
            pos += 2
        elif char == "}":
            raise _error(index, arg, "a lone '}' (write '}}' for a literal brace)")
        elif char == "{":
            end = arg.find("}", pos)
            if end < 0:
                raise _error(index, arg, "a '{' with no '}' (write '{{' for a literal brace)")
            out.append(_value(index, arg, arg[pos + 1 : end], sockets))
            pos = end + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out)


def _value(index: int, arg: str, field: str, sockets: Sequence[Slot]) -> str:
    kind, colon, name = field.partition(":")
    if kind not in _FIELDS or (colon and not name) or "{" in field:
        raise _error(
            index,
            arg,
            f"unknown placeholder {{{field}}} (known: {{fd:NAME}}, {{fd}}, {{address:NAME}}, "
            "{address}; write '{{' for a literal brace)",
        )
    have = ", ".join(f"{s.name!r} (fd {s.fd})" for s in sockets) or "no sockets"
    if not colon:
        if len(sockets) != 1:
            raise _error(
                index, arg, f"{{{kind}}} needs exactly one socket, have {have}; use {{{kind}:NAME}}"
            )
        chosen = sockets[0]
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
