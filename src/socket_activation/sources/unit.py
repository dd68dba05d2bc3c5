"""The systemd ``.socket`` unit source: a unit loads as systemd 252 loads it.

Reads a unit and its drop-ins with :mod:`socket_activation.unitfile.parser` and interprets the
``[Socket]`` section with systemd's own parsers (load-fragment.c, conf-parser.c, socket.c;
SPEC.md J, K). What systemd does with each kind of line, this does too:

- a value systemd accepts is accepted with systemd's meaning (``BindIPv6Only=yes`` is
  ``ipv6-only``, ``BindToDevice=*`` is unset, ``Backlog=0`` is 0, a path under ``/var/run/``
  is moved to ``/run/`` with a notice);
- a value systemd ignores with a warning (``Backlog=``, ``KeepAlive=maybe``, an invalid
  ``FileDescriptorName=``, ``ListenStream=0``, an unknown specifier) is ignored with the same
  kind of warning naming ``file:line`` and key, and the rest of the unit loads (``strict=True``
  raises instead);
- what makes systemd refuse the unit (no ``Listen*=`` at all, ``Accept=yes`` with a datagram or
  FIFO port, ``Accept=yes`` with ``Service=`` or ``MaxConnections=0``, an invalid
  ``SocketUser=``, a bare template ``foo@.socket``) raises :class:`UnitFileError`.

Ports the library does not open (``ListenFIFO=``, ``ListenSpecial=``, ``ListenNetlink=``,
``ListenMessageQueue=``, ``ListenUSBFunction=``) and directives it does not apply
(``ExecStartPre=``, ``Symlinks=``, ``PipeSize=``, …) load too: each is a *note* naming its
line, because under systemd the process would get that fd or that setting. A unit whose ports
are all of that kind loads (:func:`read_socket_unit`), but gives no config to bind
(:func:`read_units` raises).

The line-by-line load is in :mod:`.unit_load`, the per-key value parsers in
:mod:`socket_activation.unitfile.socket_values`, the ``Listen*=`` grammar in :mod:`.unit_listen`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import UnitFileError
from ..unitfile.parser import read_unit
from ..unitfile.search import find_unit, unit_search_path
from ._data import SourceData
from .unit_load import NOT_APPLIED, UNSUPPORTED_LISTEN, SocketUnit, socket_unit

__all__ = [
    "NOT_APPLIED",
    "SocketUnit",
    "UNSUPPORTED_LISTEN",
    "read_socket_unit",
    "read_units",
    "socket_unit",
]


def read_socket_unit(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
    manager: str | None = None,
    dropins: list[Path] | None = None,
) -> SocketUnit:
    """Read and interpret the ``.socket`` unit at *path* (and its drop-ins).

    *name* is the unit's name when it is an instance of the template file at *path*
    (``foo@bar.socket`` for ``foo@.socket``); *manager* (``system``/``user``) the manager that
    loads it, by default chosen from the path (``…/systemd/user/`` is the user manager's).
    """
    unit = read_unit(path, name=name, manager=manager, dropins=dropins)
    return socket_unit(unit, strict=strict, environ=environ)


def read_units(
    paths: Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
    names: Sequence[str | None] | None = None,
    manager: str | None = None,
) -> SourceData:
    """The ``listen`` list of several units, their sockets concatenated in the given order.

    A bare unit name (``web.socket``, no ``/``, not a file here) is looked up on the search path
    of *manager* (default ``system``) with its drop-ins from every directory
    (:mod:`socket_activation.unitfile.search`).

    Raises UnitFileError when the units name no socket this library can bind (only FIFOs,
    netlink, …): binding the library's default address instead would not be what they say.
    """
    data = SourceData()
    listen: list[dict[str, Any]] = []
    unsupported: list[str] = []
    for index, given in enumerate(paths):
        name = names[index] if names is not None else None
        path: str | os.PathLike[str] = given
        dropins: list[Path] | None = None
        if "/" not in str(given) and not os.path.exists(given):
            path, dropins = find_unit(str(given), unit_search_path(manager or "system", environ))
            name = name or str(given)
        unit = read_socket_unit(
            path, name=name, strict=strict, environ=environ, manager=manager, dropins=dropins
        )
        for spec, origin in zip(unit.listen, unit.origins, strict=True):
            data.origins[f"listen.{len(listen)}"] = origin
            listen.append(spec)
        data.warnings.extend(unit.warnings + unit.notes)
        unsupported.extend(unit.unsupported)
    if not listen:
        where = ", ".join(str(p) for p in paths)
        detail = ", ".join(unsupported)
        raise UnitFileError(
            "no ListenStream=, ListenDatagram= or ListenSequentialPacket= socket to bind; "
            f"the unit's other ports are not supported by socket-activation ({detail})",
            path=where,
        )
    data.values["listen"] = listen
    data.origins["listen"] = str(paths[0])
    return data
