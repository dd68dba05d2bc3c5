"""``posix_spawnp`` through ctypes, so that the calling thread lets go of the GIL meanwhile.

The in-process handoff starts the new generation from the process that serves. CPython's
``os.posix_spawnp`` keeps the GIL for the whole call, and glibc's ``posix_spawn`` returns only
once the child has called ``exec`` (it is a ``vfork``): every other thread of the serving
process, the ones answering requests, waits that long. ``benchmarks/spawn_gil.py`` (a thread
that wakes every 0.1 ms while 60 generations are spawned with the ``LISTEN_PID`` shim) measured
its longest pause per spawn at 2.56 ms median, 4.85 ms p90 and 7.84 ms at most with
``os.posix_spawnp``, and 0.48 / 0.57 / 1.40 ms through ctypes, which releases the GIL around a
foreign call.

Only what the handoff needs: ``dup2`` file actions and an environment, no spawn attributes.
:func:`prepare` loads libc once (the handoff calls it when the ``Upgrader`` is made, so the
first upgrade does not import ctypes while it serves); :func:`spawnp` raises ``OSError`` as
``os.posix_spawnp`` does.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["prepare", "spawnp"]

# room for posix_spawn_file_actions_t (glibc x86-64: 80 bytes; musl and macOS less)
_ACTIONS_SIZE = 1024
_libc: list[Any] = []  # [CDLL] once loaded; [None] when it cannot be
_FUNCTIONS = (
    "posix_spawnp",
    "posix_spawn_file_actions_init",
    "posix_spawn_file_actions_adddup2",
    "posix_spawn_file_actions_destroy",
)


def prepare() -> bool:
    """Load libc's ``posix_spawnp`` and file-action functions; False where they are missing."""
    if not _libc:
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            for name in _FUNCTIONS:
                getattr(libc, name).restype = ctypes.c_int
            _libc.append(libc)
        except (ImportError, OSError, AttributeError):
            _libc.append(None)
    return _libc[0] is not None


def spawnp(program: Sequence[str], env: Mapping[str, str], dup2s: Sequence[tuple[int, int]]) -> int:
    """Start *program* (searched on ``PATH``) with *env*, after ``dup2(fd, target)`` for each
    pair; the GIL is released while libc starts it. Returns the pid."""
    if not prepare():
        raise OSError("libc's posix_spawnp is not reachable through ctypes")
    import ctypes

    libc = _libc[0]
    argv = (ctypes.c_char_p * (len(program) + 1))(*[os.fsencode(a) for a in program], None)
    entries = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
    error = libc.posix_spawn_file_actions_init(actions)
    if error:
        raise OSError(error, os.strerror(error))
    try:
        for fd, target in dup2s:
            error = libc.posix_spawn_file_actions_adddup2(actions, fd, target)
            if error:
                raise OSError(error, os.strerror(error))
        pid = ctypes.c_int(0)
        error = libc.posix_spawnp(ctypes.byref(pid), argv[0], actions, None, argv, envp)
        if error:
            raise OSError(error, os.strerror(error), program[0])
        return pid.value
    finally:
        libc.posix_spawn_file_actions_destroy(actions)
