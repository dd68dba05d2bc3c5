"""launchd socket activation: ``launch_activate_socket()`` from libSystem, through ctypes.

A job whose plist has a ``Sockets`` dictionary asks launchd for each socket by its key
(SPEC.md N, R97-R101)::

    int launch_activate_socket(const char *name, int **fds, size_t *cnt);

The return value is the error (``errno`` is not read). ``ENOENT`` (no socket of that name) and
``ESRCH`` (not a launchd job; macOS also answers it for unknown names) mean "not activated": an
empty answer and a note saying which. ``EALREADY`` (asked twice) is answered from a per-process
cache of the first answer for that name. Any other value raises :class:`LaunchdError` with the
errno and the socket name. One name may give several fds (one per address family when the
plist has no ``SockFamily``): all are returned, in order, each marked close-on-exec and
described as the kernel sees it. The fds are ours; the array is libSystem's and is given back
with ``free()`` (from the same library handle) on every path.

Off macOS there is no launchd, and the answer is "not activated" without loading ctypes.
Test seam: the library can be named by the ``library=`` argument or the environment variable
``SOCKET_ACTIVATION_LAUNCHD_LIBRARY``; the tests point it at a C stand-in built on Linux
(tests/support/launchd_stub.c) that exports ``launch_activate_socket`` and ``free``.
"""

from __future__ import annotations

import _thread
import errno
import os
import sys

from .._errors import ConfigError, LaunchdError
from .._record import record
from ..net.sockinfo import SocketInfo, describe_fd

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = [
    "LAUNCHD_LIBRARY_VARIABLE",
    "LIBSYSTEM",
    "LaunchdActivation",
    "launch_activate_socket",
    "launchd_activation",
]

# Test seam: a shared library to use instead of libSystem (also honoured off macOS).
LAUNCHD_LIBRARY_VARIABLE = "SOCKET_ACTIVATION_LAUNCHD_LIBRARY"
# Where launch_activate_socket and free live on macOS (10.10+).
LIBSYSTEM = "/usr/lib/libSystem.B.dylib"
# The socket names asked of launchd when the configuration names none (ServerConfig's default).
DEFAULT_NAMES = ("Listeners",)
# More fds than this for one name is a corrupt answer (launchd gives one per address family),
# not something to read element by element from foreign memory.
_MAX_FDS_PER_NAME = 1 << 16

_NOT_ACTIVATED = {
    errno.ENOENT: "no socket of that name in the job's Sockets (ENOENT)",
    errno.ESRCH: "this process is not managed by launchd, or has no such socket (ESRCH)",
}


@record
class LaunchdActivation:
    """What launchd handed this process for the names asked.

    ``sockets`` holds ``(name, fd, info)`` in the order asked, and within a name in launchd's
    order; ``notes`` explain every name that gave nothing and every fd skipped.
    """

    names: tuple[str, ...]
    sockets: tuple[tuple[str, int, SocketInfo], ...]
    notes: tuple[str, ...] = ()

    @property
    def activated(self) -> bool:
        """True when launchd passed at least one socket."""
        return bool(self.sockets)

    @property
    def source(self) -> str:
        """``"launchd"`` when activated, else ``""`` (as ``SystemdActivation.source``)."""
        return "launchd" if self.sockets else ""

    def named(self, name: str) -> tuple[tuple[str, int, SocketInfo], ...]:
        """The sockets passed for *name*."""
        return tuple(entry for entry in self.sockets if entry[0] == name)


class _Binding:
    """launch_activate_socket and free, both from one library handle."""

    def __init__(self, path: str) -> None:
        import ctypes

        self.path = path
        self.ctypes = ctypes
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            err = errno.ENOENT if not os.path.exists(path) else errno.EINVAL
            raise LaunchdError(err, f"cannot load the launchd library {path!r}: {exc}") from None
        try:
            self.activate: Any = lib.launch_activate_socket
            self.free: Any = lib.free
        except AttributeError as exc:
            raise LaunchdError(
                errno.ENOSYS, f"{path!r} has no launch_activate_socket or free: {exc}"
            ) from None
        int_array = ctypes.POINTER(ctypes.c_int)
        self.int_array = int_array
        self.activate.argtypes = [
            ctypes.c_char_p,
            ctypes.POINTER(int_array),
            ctypes.POINTER(ctypes.c_size_t),
        ]
        self.activate.restype = ctypes.c_int
        self.free.argtypes = [ctypes.c_void_p]
        self.free.restype = None

    def call(self, name: bytes) -> tuple[int, list[int], str | None]:
        """(return value, fds copied out of the array, a problem with the array or None).

        The array, when one was stored, is freed before returning, whatever happened.
        """
        ctypes = self.ctypes
        array = self.int_array()  # NULL
        count = ctypes.c_size_t(0)
        ret = int(self.activate(name, ctypes.byref(array), ctypes.byref(count)))
        fds: list[int] = []
        problem = None
        try:
            if ret == 0 and count.value:
                if not array:
                    problem = f"reported {count.value} fds but stored no array"
                elif count.value > _MAX_FDS_PER_NAME:
                    problem = f"reported {count.value} fds, more than any name can have"
                else:
                    fds = array[: count.value]
        finally:
            if array:  # also on error returns: whatever launchd stored is not ours to keep
                self.free(ctypes.cast(array, ctypes.c_void_p))
        return ret, fds, problem


_lock = _thread.allocate_lock()  # one asker at a time, so EALREADY always finds the cache
_bindings: dict[str, _Binding] = {}
# (library, name) -> the fds of the first successful answer, served again on EALREADY
_answers: dict[tuple[str, str], tuple[int, ...]] = {}


def _reset_cache() -> None:
    """Forget cached answers (tests; the fds are not closed)."""
    with _lock:
        _answers.clear()


def _library_path(library: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> str | None:
    if library is not None:
        return os.fspath(library)
    seam = environ.get(LAUNCHD_LIBRARY_VARIABLE)
    if seam:
        return seam
    if sys.platform == "darwin":
        return LIBSYSTEM
    return None


def _encode(name: str) -> bytes:
    if "\0" in name:
        raise ConfigError(
            f"a launchd socket name cannot contain NUL, got {name!r}", source="launchd"
        )
    return name.encode()


def _binding(path: str) -> _Binding:
    binding = _bindings.get(path)
    if binding is None:
        binding = _bindings[path] = _Binding(path)
    return binding


def _activate(binding: _Binding, name: str) -> tuple[tuple[int, ...], str | None]:
    """The fds for *name* and a note when there are none. Call with ``_lock`` held."""
    encoded = _encode(name)
    ret, fds, problem = binding.call(encoded)
    key = (binding.path, name)
    if ret == 0:
        if problem is not None:
            raise LaunchdError(errno.EINVAL, f"launch_activate_socket({name!r}) {problem}")
        for fd in fds:
            try:  # noqa: SIM105 - contextlib for one try is not worth an import here
                os.set_inheritable(fd, False)  # FD_CLOEXEC: launchd's fds are inheritable
            except OSError:
                pass  # not open: reported when the fd is described
        _answers[key] = tuple(fds)
        note = None if fds else f"launchd socket {name!r}: launchd passed no fds"
        return tuple(fds), note
    if ret in _NOT_ACTIVATED:
        return (), f"launchd socket {name!r}: not activated: {_NOT_ACTIVATED[ret]}"
    if ret == errno.EALREADY:
        cached = _answers.get(key)
        if cached is not None:
            return cached, None
        raise LaunchdError(
            ret,
            f"launch_activate_socket({name!r}): already activated in this process by other "
            "code (EALREADY); its fds are not known here",
        )
    raise LaunchdError(ret, f"launch_activate_socket({name!r}) failed: {os.strerror(ret)}")


def launch_activate_socket(
    name: str,
    *,
    library: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[int]:
    """The fds launchd passed for socket *name* (a key of the plist's ``Sockets``).

    ``[]`` when not activated (off macOS, ``ENOENT``, ``ESRCH``). Asking again gives the same
    fds (launchd answers ``EALREADY``; the first answer is kept). The fds are close-on-exec and
    belong to the caller. Raises :class:`LaunchdError` for any other error.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    path = _library_path(library, env)
    if path is None:
        return []
    with _lock:
        fds, _ = _activate(_binding(path), name)
    return list(fds)


def launchd_activation(
    names: Sequence[str],
    *,
    library: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LaunchdActivation:
    """Ask launchd for each of *names*, describe every fd, and say why anything is missing.

    Off macOS (with no library named through the seam) this is "not activated" at once, and
    ctypes is never imported. A fd that is not an open socket is left out, with a note.
    Raises :class:`LaunchdError` for an unexpected error (the message names the socket).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    path = _library_path(library, env)
    if path is None:
        return LaunchdActivation(tuple(names), (), ())  # not macOS: nothing to ask, nothing to say
    sockets: list[tuple[str, int, SocketInfo]] = []
    notes: list[str] = []
    with _lock:
        binding = _binding(path)
        for name in names:
            fds, note = _activate(binding, name)
            if note is not None:
                notes.append(note)
            for fd in fds:
                info = describe_fd(fd)
                if isinstance(info, SocketInfo):
                    sockets.append((name, fd, info))
                else:
                    notes.append(f"launchd socket {name!r}: fd {fd} is {info}; ignored")
    return LaunchdActivation(tuple(names), tuple(sockets), tuple(notes))
