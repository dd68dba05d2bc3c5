"""The systemd file-descriptor store: park fds with the manager so they survive a restart.

With ``FileDescriptorStoreMax=N`` on the service, fds sent with ``FDSTORE=1`` are kept by systemd
while the service restarts and handed back on the next start after any socket-unit fds, named by
``FDNAME=`` in ``LISTEN_FDNAMES`` (SPEC.md H, R52-R56). Taking them back is ordinary activation
(the resolver reads ``LISTEN_FDS``/``LISTEN_FDNAMES``); this module only sends.

Names are checked like systemd's ``fdname_is_valid`` (R19) before sending, because the manager
silently renames an fd with an invalid name to ``stored`` (R39).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._errors import NotifyMessageError
from .notify import NotifyResult, notify

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from .notify_message import HasFileno

__all__ = ["FDNAME_MAX", "check_fdname", "fdstore_add", "fdstore_remove"]

# fdname_is_valid: at most FDNAME_MAX (255) bytes
FDNAME_MAX = 255


def check_fdname(name: str) -> str:
    """Return *name* if systemd accepts it as an fd name (R19), else raise NotifyMessageError.

    Printable ASCII (0x20-0x7e) except ``:`` (the ``LISTEN_FDNAMES`` separator), at most 255
    characters; the empty name is valid.
    """
    if len(name) > FDNAME_MAX:
        raise NotifyMessageError(
            f"fd name must be at most {FDNAME_MAX} characters, got {len(name)}: {name[:40]!r}..."
        )
    for char in name:
        if not " " <= char <= "~" or char == ":":
            raise NotifyMessageError(
                f"fd name must be printable ASCII without ':', got {name!r} "
                f"(invalid character {char!r})"
            )
    return name


def fdstore_add(
    fds: Sequence[int | HasFileno] | int | HasFileno,
    name: str,
    *,
    poll: bool = True,
    environ: Mapping[str, str] | None = None,
) -> NotifyResult:
    """Store *fds* (an fd, a socket, or a sequence of them) under *name*: ``FDSTORE=1``.

    With ``poll=False`` the message carries ``FDPOLL=0``, so systemd keeps the fd even when it
    reports POLLHUP/POLLERR (R54; e.g. a connected socket whose peer went away). Sending to a
    service without ``FileDescriptorStoreMax=`` is not an error; the manager just closes the fds
    (R47). Our copies stay open: systemd holds duplicates.
    """
    fd_list = list(fds) if isinstance(fds, Sequence) else [fds]
    if not fd_list:
        raise NotifyMessageError(f"fdstore_add needs at least one fd to store under {name!r}")
    lines = ["FDSTORE=1", f"FDNAME={check_fdname(name)}"]
    if not poll:
        lines.append("FDPOLL=0")
    return notify("\n".join(lines), fds=fd_list, environ=environ)


def fdstore_remove(name: str, *, environ: Mapping[str, str] | None = None) -> NotifyResult:
    """Remove every fd stored under *name*: ``FDSTOREREMOVE=1`` (R55)."""
    return notify(f"FDSTOREREMOVE=1\nFDNAME={check_fdname(name)}", environ=environ)
