"""Pure reading of systemd's socket-activation variables: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES.

Nothing here touches the process: the environment is a ``Mapping`` and the pid an ``int``, so
every rule of libsystemd 252's ``sd_listen_fds_with_names()`` (SPEC.md R1-R19) is a table test.
The parsing copies libsystemd's C helpers exactly, quirks included:

* ``LISTEN_PID`` goes through ``parse_pid()`` = ``safe_atolu()``: leading whitespace and ``+``
  are accepted, ``0x``/``0o``/``0b`` prefixes too; a leading ``-`` is ``ERANGE``, garbage
  ``EINVAL``.
* ``LISTEN_FDS`` goes through ``safe_atoi()`` = ``strtol(base 0)`` plus ``0b``/``0o``:
  ``"010"`` is octal 8.
* ``LISTEN_FDNAMES`` is split on ``:`` by ``extract_first_word()``: empty names are kept and a
  backslash takes the next character literally (``a\\:b`` is one name, ``a:b``).

Errors are :class:`~socket_activation.ActivationError` carrying the errno libsystemd returns.
"""

from __future__ import annotations

import errno

from .._errors import ActivationError
from .._record import record
from .numbers import ParseIntError, parse_pid, safe_atoi, safe_atou64

TYPE_CHECKING = False  # typing/collections cost milliseconds; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "LISTEN_FDNAMES",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_PIDFDID",
    "LISTEN_VARIABLES",
    "SD_LISTEN_FDS_START",
    "ListenEnv",
    "parse_listen_env",
    "parse_listen_fds",
    "parse_listen_pid",
    "parse_listen_pidfdid",
    "split_fdnames",
]

SD_LISTEN_FDS_START = 3
LISTEN_PID = "LISTEN_PID"
LISTEN_PIDFDID = "LISTEN_PIDFDID"
LISTEN_FDS = "LISTEN_FDS"
LISTEN_FDNAMES = "LISTEN_FDNAMES"
# Every variable sd_listen_fds(unset_environment=1) removes, in libsystemd's order.
LISTEN_VARIABLES = (LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS, LISTEN_FDNAMES)

_INT_MAX = 2**31 - 1


def parse_listen_pid(text: str) -> int:
    """Parse ``LISTEN_PID`` as libsystemd's ``parse_pid()`` does (SPEC R3).

    ``" 12"``, ``"+12"`` and ``"0xc"`` are 12; ``""``, ``"12 "`` and ``"abc"`` raise with
    ``errno=EINVAL``; ``"0"``, ``"-1"`` and anything that does not fit a ``pid_t`` raise with
    ``errno=ERANGE``.
    """
    try:
        # parse_pid() casts to pid_t (int32) and requires the value to survive it and be > 0.
        return parse_pid(text)
    except ParseIntError as exc:
        if exc.errno == errno.EINVAL:
            message = f"{LISTEN_PID} must be a process id, got {text!r}"
        else:
            message = f"{LISTEN_PID} must be a process id between 1 and {_INT_MAX}, got {text!r}"
        raise ActivationError(message, variable=LISTEN_PID, errno=exc.errno) from None


def parse_listen_pidfdid(text: str) -> int:
    """Parse ``LISTEN_PIDFDID`` (newer systemd, R5): an unsigned 64-bit pidfd inode id."""
    try:
        return safe_atou64(text)
    except ParseIntError as exc:
        raise ActivationError(
            f"{LISTEN_PIDFDID} must be an unsigned 64-bit pidfd inode id, got {text!r}",
            variable=LISTEN_PIDFDID,
            errno=exc.errno,
        ) from None


def parse_listen_fds(text: str) -> int:
    """Parse ``LISTEN_FDS`` as ``sd_listen_fds()`` does (SPEC R7, R8).

    ``"2"``, ``" 2"``, ``"+2"``, ``"0x2"``, ``"02"``, ``"0b10"`` and ``"0o2"`` are 2, ``"010"``
    is 8 (C octal). ``"0"``, negatives, values above ``INT_MAX - 3`` and garbage raise with
    ``errno=EINVAL``; values that do not fit a C ``int`` raise with ``errno=ERANGE``.
    """
    try:
        value = safe_atoi(text)
    except ParseIntError as exc:
        if exc.errno == errno.ERANGE:
            message = f"{LISTEN_FDS} must be a positive integer that fits a C int, got {text!r}"
        else:
            message = f"{LISTEN_FDS} must be a positive integer, got {text!r}"
        raise ActivationError(message, variable=LISTEN_FDS, errno=exc.errno) from None
    if value <= 0:
        raise ActivationError(
            f"{LISTEN_FDS} must be a positive integer, got {text!r}", variable=LISTEN_FDS
        )
    # The last fd, SD_LISTEN_FDS_START + n - 1, must itself be a valid int.
    if value > _INT_MAX - SD_LISTEN_FDS_START:
        raise ActivationError(
            f"{LISTEN_FDS} must be at most {_INT_MAX - SD_LISTEN_FDS_START}, got {text!r}",
            variable=LISTEN_FDS,
        )
    return value


def split_fdnames(text: str) -> list[str]:
    """Split ``LISTEN_FDNAMES`` as libsystemd 252 does (SPEC R13, R14).

    Separators are not coalesced (``"a::b"`` is three names, ``""`` is one empty name); a
    backslash makes the next character literal (``"a\\:b"`` is ``["a:b"]``); quotes and
    whitespace are kept. A trailing lone backslash raises with ``errno=EINVAL``.
    """
    names: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ActivationError(
            f"{LISTEN_FDNAMES} must not end in a lone backslash, got {text!r}",
            variable=LISTEN_FDNAMES,
        )
    names.append("".join(current))
    return names


@record
class ListenEnv:
    """What the LISTEN_* variables say, before any fd is touched.

    ``count`` is the number of fds passed (fds ``3 .. 3+count-1``); 0 means "not for us" and
    ``reason`` says why. ``names`` is the split ``LISTEN_FDNAMES`` (``None`` when unset or not
    asked for); its length may differ from ``count``: :meth:`fd_names` checks that.
    """

    count: int
    names: tuple[str, ...] | None
    reason: str = ""

    @property
    def fds(self) -> range:
        """The passed fd numbers, in order."""
        return range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + self.count)

    def fd_names(self) -> tuple[str, ...]:
        """One name per fd: ``LISTEN_FDNAMES`` or ``"unknown"`` for each (R16, R17).

        Raises :class:`ActivationError` (``EINVAL``) when the name count differs from a
        non-zero ``count``, as libsystemd does (R15: "not for us" wins).
        """
        if self.names is None or self.count == 0:
            return ("unknown",) * self.count
        if len(self.names) != self.count:
            have = ", ".join(repr(name) for name in self.names)
            raise ActivationError(
                f"{LISTEN_FDNAMES} must have one name per fd ({LISTEN_FDS}={self.count}), "
                f"got {len(self.names)}: {have}",
                variable=LISTEN_FDNAMES,
            )
        return self.names


def parse_listen_env(
    environ: Mapping[str, str],
    pid: int,
    *,
    pidfdid: int | None = None,
    with_names: bool = True,
    trust_pid1: bool = False,
    ppid: int | None = None,
) -> ListenEnv:
    """Decide what ``environ`` passes to process ``pid``, in libsystemd's order of checks.

    ``pidfdid`` is this process's pidfd inode id when the kernel gives one (pidfs); a
    ``LISTEN_PIDFDID`` that differs means "not for us" (R5). ``with_names`` also parses
    ``LISTEN_FDNAMES`` first, as ``sd_listen_fds_with_names()`` does, so a malformed value is an
    error even when the fds are not for us. ``trust_pid1`` accepts ``LISTEN_PID=1`` when the
    process's parent ``ppid`` is PID 1: a container whose init got the fds and forked us without
    rewriting ``LISTEN_PID`` (tini). Not "when ``pid`` is 2": under podman and runc the init's
    child was measured as PID 6 or 7. ``ppid=None`` (unknown) never trusts.
    """
    names: tuple[str, ...] | None = None
    if with_names and LISTEN_FDNAMES in environ:
        names = tuple(split_fdnames(environ[LISTEN_FDNAMES]))

    pid_text = environ.get(LISTEN_PID)
    if pid_text is None:
        if LISTEN_FDS in environ:
            reason = f"{LISTEN_FDS}={environ[LISTEN_FDS]} is set but {LISTEN_PID} is not"
        else:
            reason = f"{LISTEN_PID} is not set"
        return ListenEnv(0, names, reason)
    listen_pid = parse_listen_pid(pid_text)
    under_init = listen_pid == 1 and pid != 1 and ppid == 1
    via_init = trust_pid1 and under_init
    if listen_pid != pid and not via_init:
        reason = f"{LISTEN_PID}={pid_text} is not this process (pid {pid})"
        if under_init:
            reason += "; under a container init (our parent is PID 1), opt in with trust_pid1=True"
        return ListenEnv(0, names, reason)

    pidfdid_text = environ.get(LISTEN_PIDFDID)
    if pidfdid_text is not None:
        wanted = parse_listen_pidfdid(pidfdid_text)
        if pidfdid is not None and wanted != pidfdid and not via_init:
            reason = (
                f"{LISTEN_PIDFDID}={pidfdid_text} is not this process "
                f"(its pidfd inode id is {pidfdid}): the pid was recycled"
            )
            return ListenEnv(0, names, reason)

    fds_text = environ.get(LISTEN_FDS)
    if fds_text is None:
        return ListenEnv(0, names, f"{LISTEN_PID} is set but {LISTEN_FDS} is not")
    return ListenEnv(parse_listen_fds(fds_text), names)
