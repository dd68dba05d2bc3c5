"""This process, activated: real sockets at fds 3.. and ``LISTEN_*`` naming them, then undone.

For tests of code that calls :func:`socket_activation.resolve` (or reads ``LISTEN_FDS``) in the
test process itself. :func:`activate` is a context manager:

- on entry it binds the sockets (as ``exec``/``activated_server`` do: port 0 is a free port),
  moves whatever this process has open at the target fds away (pytest and its plugins use
  low fds: capture files, pytest-xdist's channel), places the sockets at 3, 4, ... (inheritable,
  as systemd passes them), sets ``LISTEN_FDS``, ``LISTEN_FDNAMES`` and ``LISTEN_PID`` to this
  pid, and forgets the library's cached activation snapshot;
- on exit it puts every moved fd back where it was (with its close-on-exec flag), closes the
  sockets, removes Unix socket files it created, restores the variables and forgets the
  snapshot again. Socket objects the library wrapped around the fds are detached first, so
  they cannot close a restored fd when they are collected.

While the block runs, fds 3.. are the sockets: keep the block to the code under test (pytest
itself writes reports between phases, outside it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._resolution import ResolvedSocket
    from ..config import ListenSpec, ServerConfig

__all__ = ["Activation", "activate"]

SD_LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID")
# moved-away fds go above this, out of the way of the low numbers code under test allocates
_SAVE_FLOOR = 256


@dataclass(frozen=True)
class Activation:
    """What :func:`activate` set up: ``fds`` (3, 4, ...), their ``names``, and ``sockets``
    (the bound sockets, in order: ``.address``, ``.kind``, ``.sockname``)."""

    fds: tuple[int, ...]
    names: tuple[str, ...]
    sockets: tuple[ResolvedSocket, ...]
    environ: Mapping[str, str]

    def address(self, name: str | None = None) -> str:
        """The canonical address of the socket named *name* (default: fd 3's)."""
        for found in self.sockets:
            if name is None or found.name == name:
                return found.address
        have = ", ".join(repr(s.name) for s in self.sockets)
        raise LookupError(f"no socket named {name!r} (have: {have})")


@contextlib.contextmanager
def activate(
    listen: Sequence[str | ListenSpec | Mapping[str, Any]] | None = None,
    *,
    names: Sequence[str] | str | None = None,
    config: ServerConfig | None = None,
    unit: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Activation]:
    """Activate this process for the ``with`` block; see the module docstring.

    The sockets come from one of *listen*, *config* or *unit*, as for ``activated_server``.
    *extra_env* sets more variables for the block (``LISTEN_PID`` of another process, say).
    """
    from ..systemd.activation import _reset_cache
    from ._sockets import bind_sockets

    resolution = bind_sockets(listen=listen, names=names, config=config, unit=unit)
    sockets = resolution.sockets
    count = len(sockets)
    targets = tuple(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))
    saved: dict[int, tuple[int, bool]] = {}  # target -> (moved copy, was inheritable)
    placed: list[tuple[int, os.stat_result]] = []
    old_env = {name: os.environ.get(name) for name in (*_VARIABLES, *(extra_env or {}))}
    own = {sock.fileno() for sock in resolution.bound}
    try:
        for target in targets:
            if target in own:  # one of the sockets just bound: it is moved below
                continue
            with contextlib.suppress(OSError):  # EBADF: nothing open there
                inheritable = os.get_inheritable(target)
                saved[target] = (
                    fcntl.fcntl(target, fcntl.F_DUPFD_CLOEXEC, _SAVE_FLOOR),
                    inheritable,
                )
        # copies above the range, so placing one never overwrites another still to be placed
        copies = [
            fcntl.fcntl(s.fd, fcntl.F_DUPFD_CLOEXEC, SD_LISTEN_FDS_START + count) for s in sockets
        ]
        for copy, target in zip(copies, targets, strict=True):
            os.dup2(copy, target)  # inheritable, as the manager passes it
            placed.append((target, os.fstat(target)))
            os.close(copy)
        for sock in resolution.bound:
            sock.detach() if sock.fileno() in targets else sock.close()
        environ = {
            "LISTEN_PID": str(os.getpid()),
            "LISTEN_FDS": str(count),
            "LISTEN_FDNAMES": ":".join(s.name for s in sockets),
            **(extra_env or {}),
        }
        for name in _VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(environ)
        _reset_cache()
        yield Activation(targets, tuple(s.name for s in sockets), sockets, environ)
    finally:
        _undo(placed, saved, old_env)
        resolution.close()  # the files of Unix sockets it bound; the sockets are closed


def _undo(
    placed: list[tuple[int, os.stat_result]],
    saved: dict[int, tuple[int, bool]],
    old_env: dict[str, str | None],
) -> None:
    from ..systemd.activation import _reset_cache, _wrapped

    for sock in list(_wrapped.values()):
        if sock.fileno() in {target for target, _ in placed}:
            sock.detach()  # its fd is ours to close or to restore
    _reset_cache()
    for target, stat in placed:
        if target in saved:
            copy, inheritable = saved.pop(target)
            os.dup2(copy, target, inheritable=inheritable)
            os.close(copy)
        elif _same_file(target, stat):
            os.close(target)
    for copy, _inheritable in saved.values():  # moved but never replaced (a failed start)
        os.close(copy)
    for name, value in old_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _same_file(fd: int, stat: os.stat_result) -> bool:
    """True when *fd* is still the socket placed there (the code under test may close it)."""
    try:
        now = os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (stat.st_dev, stat.st_ino)
