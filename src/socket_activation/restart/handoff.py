"""In-process zero-downtime upgrade: start a new copy of ourselves on the same sockets.

The old process (typically on ``SIGHUP`` or ``SIGUSR2``) calls :func:`upgrade` or
:meth:`Upgrader.upgrade`:

1. a new copy (``sys.executable`` + ``sys.argv`` by default) starts with the listening sockets at
   fds 3.. in the order given, ``LISTEN_FDS``/``LISTEN_FDNAMES`` and ``LISTEN_PID`` of the *child*
   (set after fork, before exec, see :mod:`~socket_activation.restart.spawn`), and
   ``NOTIFY_SOCKET`` naming a private
   :class:`~socket_activation.restart.readiness.ReadinessSocket` (the start and the wait are
   :mod:`~socket_activation.restart.successor`'s; this module decides what the manager is told);
2. the old process waits for the child's ``READY=1`` (``ready_timeout``). Both serve meanwhile:
   they share the kernel's accept queue, so no connection is refused or reset;
3. success returns the child's pid: the caller stops accepting, drains in-flight connections
   (bounded) and exits. Failure (the child exits, crashes, or sends no ``READY=1`` in time)
   kills and reaps the child and raises :class:`HandoffError` saying why; the old process keeps
   serving. One upgrade at a time per :class:`Upgrader`: a second request while one runs, or
   after one succeeded, raises :class:`HandoffError` at once.

Under systemd (``NOTIFY_SOCKET`` set for us), the manager's socket is *not* given to the child
as ``NOTIFY_SOCKET`` (its ``READY=1`` must reach us, not the manager): it travels in
``SOCKET_ACTIVATION_MANAGER_NOTIFY_SOCKET``. After the child is ready we send the manager
``MAINPID=<child>``, so the unit stays active when we exit. The child calls
:func:`announce_ready`, which sends ``READY=1`` to whoever waits and then makes the manager's
socket its ``NOTIFY_SOCKET`` for everything later (``STATUS=``, ``WATCHDOG=1``, the next
upgrade). ``MAINPID=`` comes from the current main process, so ``NotifyAccess=main`` is enough
for the handover itself (measured under systemd 252); use ``NotifyAccess=all`` so that the new
process's own messages are accepted even in the moment before ``MAINPID=`` names it.
On stop, systemd waits for a main process it did not start only when it tracks processes with
cgroup v2; on a v1/hybrid layout in a container it follows ``SIGTERM`` with ``SIGKILL`` at once
(measured), so prefer ``supervise`` there.

Unix socket files handed over are never unlinked by the old process (``forget_unix_socket``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from .._errors import HandoffError, NotifyError
from ..net.bind import forget_unix_socket
from ..net.sockaddr import SocketAddress
from ..systemd.notify import NOTIFY_SOCKET, NotifyResult, notify
from . import spawn_nogil
from .child_env import MANAGER_NOTIFY_SOCKET
from .priority import DEFAULT_NICE, StartPriority
from .retire import retire_at_exit
from .successor import start_successor, stop, why

__all__ = [
    "MANAGER_NOTIFY_SOCKET",
    "HandoffResult",
    "Upgrader",
    "announce_ready",
    "upgrade",
]

# Default time for the new generation to say READY=1.
DEFAULT_READY_TIMEOUT = 30.0

_Socket = socket.socket


@dataclass(frozen=True, slots=True)
class HandoffResult:
    """A completed upgrade: the new process's ``pid``, and what the manager was told."""

    pid: int
    status: str | None
    manager_notified: bool


def announce_ready(
    *, status: str | None = None, environ: MutableMapping[str, str] | None = None
) -> NotifyResult:
    """Say ``READY=1`` as a server that may have been started by an upgrade.

    ``READY=1`` goes to ``NOTIFY_SOCKET`` (the old generation's readiness socket during an
    upgrade, the manager otherwise); then, if an upgrade passed the manager's socket along,
    it becomes ``NOTIFY_SOCKET`` for every later notification and the next upgrade.
    """
    env = os.environ if environ is None else environ
    lines = ["READY=1"] + ([f"STATUS={status}"] if status is not None else [])
    result = notify("\n".join(lines), environ=env)
    manager = env.pop(MANAGER_NOTIFY_SOCKET, None)
    if manager is not None:
        if manager:
            env[NOTIFY_SOCKET] = manager
        else:
            env.pop(NOTIFY_SOCKET, None)
    return result


class Upgrader:
    """Upgrades this process in place; one at a time. Thread-safe.

    *sockets* are handed to the new process at fds 3.. in this order, named by *names*
    (``LISTEN_FDNAMES``). *argv* defaults to ``[sys.executable, *sys.argv]`` (and
    ``sys.orig_argv`` when Python was started with options such as ``-m``); *environ* to
    ``os.environ`` (read at each upgrade). The new process runs at ``SCHED_IDLE`` until its
    ``READY=1`` (*start_priority* ``"idle"``, so its start-up leaves the CPU to this one, which
    serves; moved to *start_nice* levels nicer if it is still starting after
    :data:`~socket_activation.restart.priority.IDLE_LIMIT` s), or *start_nice* levels lower
    (``"nice"``), or as it is (``"normal"``, or ``start_nice=0``), where the priority can be
    restored (:mod:`socket_activation.restart.priority`).

    Once an upgrade succeeded, this process exits at ``SCHED_IDLE`` (*retire_after*; see
    :mod:`socket_activation.restart.retire`): its finalization then does not hold a CPU the new
    process's request threads are ready to use.

    *spare_cpus*: CPUs this service does not serve on (:mod:`socket_activation.restart.affinity`).
    The new process runs only on them until its ``READY=1``, then on this process's CPUs, and
    the calling thread runs the whole upgrade there (back where it was when it returns); once
    an upgrade succeeded, this process's threads move onto them for their drain and exit.

    *notify_reload* speaks the ``Type=notify-reload`` protocol to the manager around each
    upgrade: ``RELOADING=1`` with ``MONOTONIC_USEC=`` first, then ``MAINPID=`` and ``READY=1``
    in one message (accepted from the old main process under ``NotifyAccess=main``), or on
    failure ``READY=1`` with ``STATUS=reload failed: ...``: released systemd has no message
    that fails a reload, so the reason goes to the unit's status.
    """

    def __init__(
        self,
        sockets: Sequence[_Socket],
        *,
        names: Sequence[str],
        argv: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        notify_reload: bool = False,
        start_nice: int = DEFAULT_NICE,
        start_priority: str = "idle",
        retire_after: bool = True,
        spare_cpus: Iterable[int] | None = None,
    ) -> None:
        if len(sockets) != len(names):
            raise ValueError(f"{len(sockets)} sockets but {len(names)} names")
        if ready_timeout <= 0:
            raise ValueError(f"ready_timeout must be positive, got {ready_timeout!r}")
        self.notify_reload = notify_reload
        self._sockets = list(sockets)
        self._names = list(names)
        self._argv = list(argv) if argv is not None else _own_argv()
        self._environ = environ
        self.ready_timeout = ready_timeout
        # the new process runs lowered until READY=1, where it can be put back
        spare = frozenset(spare_cpus) if spare_cpus is not None else None
        # ValueError for a bad one
        priority = StartPriority(start_priority, start_nice, spare_cpus=spare)
        if priority.unavailable() is not None:
            priority = priority.without_priority()
        self.start_priority = priority
        self.retire_after = retire_after
        # load libc's posix_spawnp now: the upgrade spawns from the serving process and must
        # not import ctypes, or hold the GIL, while it serves (restart/spawn_nogil.py)
        spawn_nogil.prepare()
        self._lock = threading.Lock()
        self._child: int | None = None
        self._done: HandoffResult | None = None

    @property
    def sockets(self) -> list[_Socket]:
        """The sockets handed to each new process, in fd order."""
        return list(self._sockets)

    @property
    def in_progress(self) -> bool:
        """True while an upgrade waits for its new process."""
        return self._child is not None

    @property
    def completed(self) -> HandoffResult | None:
        """The successful upgrade, once there has been one."""
        return self._done

    def upgrade(self) -> HandoffResult:
        """Start the new process and wait for its ``READY=1``; see the module docstring."""
        if not self._lock.acquire(blocking=False):
            raise HandoffError(
                f"an upgrade is already in progress (new process {self._child}); "
                "this request is refused"
            )
        try:
            if self._done is not None:
                raise HandoffError(
                    f"already handed over to process {self._done.pid}; "
                    "this process is shutting down and cannot upgrade again"
                )
            # the whole upgrade runs on the spare CPUs, if any: its Python (from the first
            # line, not only from the spawn on) then leaves the serving CPUs to the serving
            # threads and whatever else runs there, and the child is born there
            priority = self.start_priority.homed()  # before this thread moves
            with priority.spawning() as placed:
                self._done = self._run(priority, placed)
            # this process's threads, not its child (the new generation, which serves)
            priority.set_aside(os.getpid(), children=False)
            if self.retire_after:
                retire_at_exit()  # this process's exit then waits for idle CPUs
            return self._done
        finally:
            self._child = None
            self._lock.release()

    def _run(self, priority: StartPriority, placed: bool) -> HandoffResult:
        environ = os.environ if self._environ is None else self._environ
        manager = environ.get(MANAGER_NOTIFY_SOCKET, environ.get(NOTIFY_SOCKET))
        if not (self.notify_reload and manager):
            return self._hand_over(environ, manager, priority, placed)
        _tell(manager, reloading_message())
        try:
            return self._hand_over(environ, manager, priority, placed, ready=True)
        except HandoffError as exc:
            _tell(manager, f"READY=1\nSTATUS=reload failed: {' '.join(str(exc).split())}")
            raise

    def _spawned(self, pid: int) -> None:
        self._child = pid  # in_progress, and named by a refused concurrent upgrade

    def _hand_over(
        self,
        environ: Mapping[str, str],
        manager: str | None,
        priority: StartPriority,
        placed: bool,
        *,
        ready: bool = False,
    ) -> HandoffResult:
        env = {k: v for k, v in environ.items() if k != MANAGER_NOTIFY_SOCKET}
        # "" says "no manager": the child's announce_ready() then unsets NOTIFY_SOCKET
        # instead of keeping ours, which is gone once we exit
        env[MANAGER_NOTIFY_SOCKET] = manager or ""
        pid, note = start_successor(
            self._argv,
            self._sockets,
            self._names,
            env,
            ready_timeout=self.ready_timeout,
            start_priority=priority,
            on_spawn=self._spawned,
            placed=placed,
        )
        notified = False
        if manager:
            # without MAINPID= the manager would take our exit for the service's and stop it,
            # killing the new process too: not telling it is a failed upgrade
            try:
                message = f"MAINPID={pid}\nREADY=1" if ready else f"MAINPID={pid}"
                notified = bool(notify(message, environ={NOTIFY_SOCKET: manager}))
            except NotifyError as exc:
                how = stop(pid)
                raise HandoffError(why(f"process {pid} is ready, but {exc}; {how}", None)) from exc
        for sock in self._sockets:
            _forget_if_unix_file(sock)
        return HandoffResult(pid, note.fields.get("STATUS"), notified)


def upgrade(
    sockets: Sequence[_Socket],
    *,
    names: Sequence[str],
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
) -> HandoffResult:
    """One upgrade through a process-wide :class:`Upgrader` (created on first use).

    The sockets, names and argv of the first call are kept; a concurrent or later call is
    refused as :meth:`Upgrader.upgrade` describes.
    """
    with _shared_lock:
        upgrader = _shared.get("upgrader")
        if upgrader is None:
            upgrader = _shared["upgrader"] = Upgrader(
                sockets, names=names, argv=argv, environ=environ, ready_timeout=ready_timeout
            )
    return upgrader.upgrade()


# the process-wide Upgrader behind upgrade(), created on first use
_shared: dict[str, Upgrader] = {}
_shared_lock = threading.Lock()


def reloading_message() -> str:
    """``RELOADING=1`` with ``MONOTONIC_USEC=`` now: systemd >= 257 ignores a RELOADING=1 older
    than its reload signal (or without a timestamp) and keeps waiting."""
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return f"RELOADING=1\nMONOTONIC_USEC={now_usec}"


def _tell(manager: str, message: str) -> None:
    """Best effort: a manager that cannot be told about the reload is no reason to fail it."""
    with contextlib.suppress(NotifyError):
        notify(message, environ={NOTIFY_SOCKET: manager})


def _own_argv() -> list[str]:
    """How this interpreter was started: ``sys.orig_argv`` keeps ``-m pkg`` and ``-X`` options."""
    orig = list(getattr(sys, "orig_argv", []) or [])
    if orig:
        return [sys.executable, *orig[1:]]
    return [sys.executable, *sys.argv]


def _forget_if_unix_file(sock: _Socket) -> None:
    if sock.family != socket.AF_UNIX:
        return
    try:
        address = SocketAddress.from_sockaddr(sock.family, sock.getsockname())
    except OSError:
        return
    if address.is_unix_path and address.path is not None:
        forget_unix_socket(address.path)
