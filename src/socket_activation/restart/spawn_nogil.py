"""``posix_spawnp`` through ctypes, so that the calling thread lets go of the GIL meanwhile.

The in-process handoff starts the new generation from the process that serves. CPython's
``os.posix_spawnp`` keeps the GIL for the whole call, and glibc's ``posix_spawn`` returns only
once the child has called ``exec`` (it is a ``vfork``): every other thread of the serving
process, the ones answering requests, waits that long. ``benchmarks/spawn_gil.py`` (a thread
that wakes every 0.1 ms while 60 generations are spawned with the ``LISTEN_PID`` shim) measured
its longest pause per spawn at 2.56 ms median, 4.85 ms p90 and 7.84 ms at most with
``os.posix_spawnp``, and 0.48 / 0.57 / 1.40 ms through ctypes, which releases the GIL around a
foreign call.

Only ``posix_spawnp`` itself lets the GIL go (a ``CDLL`` function); the calls that only fill
the file actions and attributes keep it (the same libc as a ``PyDLL``): each release is one
more turn the calling thread must wait for to take it back, while the serving threads, asked
to let it go, wait for that thread.

Only what the handoff needs: ``dup2`` file actions, an environment, and a child born at
``SCHED_IDLE`` (*idle*). :func:`prepare` loads libc once (the handoff calls it when the
``Upgrader`` is made, so the first upgrade does not import ctypes while it serves);
:func:`spawnp` raises ``OSError`` as ``os.posix_spawnp`` does.

Born idle: glibc's ``posix_spawnattr_setschedpolicy`` accepts only ``SCHED_OTHER``, ``FIFO``
and ``RR``, yet its child applies whatever policy the attributes hold (``sched_setscheduler(0,
policy)`` before ``exec``). :func:`prepare` finds where the attributes keep the policy (set
``FIFO`` in one, ``RR`` in another: the one int that differs) and *idle* writes ``SCHED_IDLE``
there. Where that cannot be found the child is born as the caller is, and the caller sees so
with ``os.sched_getscheduler`` (the handoff then lowers it after its birth). Why it matters:
a child lowered only after the spawn returned runs its ``exec`` at normal priority beside the
spawning thread, which then waits for its CPU to take the GIL back while the serving threads,
asked to let the GIL go, wait for it (``benchmarks/restart_cpu.py``: the serving CPU idle
about 2 ms in the first 7 ms of each upgrade).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["prepare", "spawnp"]

# room for posix_spawn_file_actions_t and posix_spawnattr_t (glibc x86-64: 80 and 336 bytes)
_ACTIONS_SIZE = 1024
_ATTR_SIZE = 1024
# POSIX_SPAWN_SETSCHEDULER: 0x20 in glibc and musl (spawn.h); os does not export it
_SETSCHEDULER = 0x20
_libc: list[Any] = []  # [CDLL] once loaded; [None] when it cannot be
# the same libc as a PyDLL, for the calls that only fill memory (file actions, attributes):
# those keep the GIL. Each CDLL call lets it go and takes it back, and in the handoff every
# such turn is one more wait for the serving threads to give it up.
_held: list[Any] = []
_policy_at: list[int | None] = []  # [offset of the policy in posix_spawnattr_t, or None]
_FUNCTIONS = (
    "posix_spawnp",
    "posix_spawn_file_actions_init",
    "posix_spawn_file_actions_adddup2",
    "posix_spawn_file_actions_destroy",
    "posix_spawnattr_init",
    "posix_spawnattr_setflags",
    "posix_spawnattr_setschedpolicy",
    "posix_spawnattr_destroy",
)


def prepare() -> bool:
    """Load libc's ``posix_spawnp``, file-action and attribute functions, and find the policy
    in the attributes (see the module docstring); False where the functions are missing."""
    if not _libc:
        try:
            import ctypes
            import ctypes.util

            path = ctypes.util.find_library("c") or None
            libc = ctypes.CDLL(path, use_errno=True)
            held = ctypes.PyDLL(path, use_errno=True)
            for name in _FUNCTIONS:
                getattr(libc, name).restype = ctypes.c_int
                getattr(held, name).restype = ctypes.c_int
            _libc.append(libc)
            _held.append(held)
        except (ImportError, OSError, AttributeError):
            _libc.append(None)
            _held.append(None)
        _policy_at.append(_find_policy(_held[0]))
    return _libc[0] is not None


def can_spawn_idle() -> bool:
    """True when :func:`spawnp` can start a child at ``SCHED_IDLE`` (Linux, the policy found)."""
    return prepare() and hasattr(os, "SCHED_IDLE") and _policy_at[0] is not None


def _find_policy(libc: Any) -> int | None:
    """Where ``posix_spawnattr_t`` keeps the policy: the one aligned int that reads ``FIFO``
    in attributes set to ``SCHED_FIFO`` and ``RR`` in ones set to ``SCHED_RR``, all else
    equal; None if there is no such int, or without ``SCHED_IDLE``."""
    if libc is None or not hasattr(os, "SCHED_IDLE"):
        return None
    import ctypes

    one, two = ctypes.create_string_buffer(_ATTR_SIZE), ctypes.create_string_buffer(_ATTR_SIZE)
    for attr, policy in ((one, os.SCHED_FIFO), (two, os.SCHED_RR)):
        if libc.posix_spawnattr_init(attr) or libc.posix_spawnattr_setschedpolicy(attr, policy):
            return None
    first, second = one.raw, two.raw
    differ = [i for i in range(_ATTR_SIZE) if first[i] != second[i]]
    if not differ:
        return None
    at = differ[0] - differ[0] % 4
    size = ctypes.sizeof(ctypes.c_int)
    read = ctypes.c_int.from_buffer
    if differ[-1] >= at + size or read(one, at).value != os.SCHED_FIFO:
        return None
    if read(two, at).value != os.SCHED_RR:
        return None
    for attr in (one, two):
        libc.posix_spawnattr_destroy(attr)
    return at


def spawnp(
    program: Sequence[str],
    env: Mapping[str, str],
    dup2s: Sequence[tuple[int, int]],
    *,
    idle: bool = False,
) -> int:
    """Start *program* (searched on ``PATH``) with *env*, after ``dup2(fd, target)`` for each
    pair; the GIL is released while libc starts it. Returns the pid. *idle*: the child sets
    itself to ``SCHED_IDLE`` before its ``exec`` where :func:`can_spawn_idle`; else ignored."""
    if not prepare():
        raise OSError("libc's posix_spawnp is not reachable through ctypes")
    import ctypes

    libc, held = _libc[0], _held[0]
    argv = (ctypes.c_char_p * (len(program) + 1))(*[os.fsencode(a) for a in program], None)
    entries = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
    attr = None
    error = held.posix_spawn_file_actions_init(actions)
    if error:
        raise OSError(error, os.strerror(error))
    try:
        for fd, target in dup2s:
            error = held.posix_spawn_file_actions_adddup2(actions, fd, target)
            if error:
                raise OSError(error, os.strerror(error))
        if idle and can_spawn_idle():
            attr = _idle_attributes(held)
        pid = ctypes.c_int(0)
        error = libc.posix_spawnp(ctypes.byref(pid), argv[0], actions, attr, argv, envp)
        if error:
            raise OSError(error, os.strerror(error), program[0])
        return pid.value
    finally:
        held.posix_spawn_file_actions_destroy(actions)
        if attr is not None:
            held.posix_spawnattr_destroy(attr)


def _idle_attributes(libc: Any) -> Any:
    """Spawn attributes whose child sets itself to ``SCHED_IDLE`` (priority 0) before exec."""
    import ctypes

    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    error = libc.posix_spawnattr_init(attr) or libc.posix_spawnattr_setschedpolicy(
        attr, os.SCHED_OTHER
    )
    error = error or libc.posix_spawnattr_setflags(attr, ctypes.c_short(_SETSCHEDULER))
    if error:
        raise OSError(error, os.strerror(error))
    at = _policy_at[0]
    assert at is not None  # can_spawn_idle()
    ctypes.c_int.from_buffer(attr, at).value = os.SCHED_IDLE
    return attr
