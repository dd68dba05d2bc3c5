"""Start ``supervise``'s first generation before the rest of ``supervise`` is imported.

:func:`start_first` is called by the command line (``cli/_early.py``, once it has checked
the argv) with nothing heavy imported yet. When the service manager passed sockets to us
(``LISTEN_PID`` is our pid, ``LISTEN_PIDFDID`` our pidfd's id if set, ``LISTEN_FDS`` >= 1,
``LISTEN_FDNAMES`` one name per fd: the rules of :func:`..systemd.environ.parse_listen_env`)
and every fd is a listening stream socket, it spawns the command exactly as
:meth:`.generations.Generations.start` would (:func:`.spawn.spawn_with_sockets`, the
environment of :func:`.child_env.child_environment`, ``NOTIFY_SOCKET`` naming a readiness
socket of ours) and returns an :class:`EarlyStart`; otherwise None with nothing changed.

It imports ``_socket`` and ``_signal``, not ``socket`` and ``signal``: those import ``enum``
(and ``selectors``), milliseconds an on-demand service's first request would wait for. The
readiness socket is made as :class:`.readiness.ReadinessSocket` makes it (abstract name of
:func:`.child_env.notify_name`, ``SO_PASSCRED``, close-on-exec, non-blocking), and
:meth:`.readiness.ReadinessSocket.adopt` takes it over.

Signals: :data:`EARLY_SIGNALS` (every signal the supervisor handles) are blocked before the
spawn, so one that arrives while ``supervise`` is still starting is held, never lost, and never
kills ``supervise`` leaving the child orphaned. The child gets the original mask (posix_spawn's
``setsigmask``). :class:`~.supervisor.Supervisor` adopts the child and then calls
:meth:`EarlyStart.release`, once its handlers are installed; :meth:`EarlyStart.close` stops a
child nobody adopted (SIGTERM, a bounded wait, SIGKILL) and restores the mask.
"""

from __future__ import annotations

import _socket
import os
import time

from .._errors import ActivationError
from ..systemd.environ import LISTEN_PIDFDID, parse_listen_env
from .child_env import NOTIFY_SOCKET, child_environment, notify_name
from .spawn import spawn_with_sockets

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    import signal as _signal  # the same functions, typed
    from collections.abc import Callable, Mapping, Sequence
else:
    import _signal

__all__ = ["EARLY_SIGNALS", "EarlyStart", "plan", "start_first"]

# = signals.HANDLED_SIGNALS (a test checks), as plain numbers
EARLY_SIGNALS = frozenset(
    (
        _signal.SIGHUP,
        _signal.SIGCHLD,
        _signal.SIGTERM,
        _signal.SIGINT,
        _signal.SIGQUIT,
        _signal.SIGUSR1,
        _signal.SIGUSR2,
        _signal.SIGWINCH,
    )
)
_FAMILIES = (_socket.AF_INET, _socket.AF_INET6, _socket.AF_UNIX)
# how long a child nobody adopted gets between SIGTERM and SIGKILL
_STOP_GRACE = 1.0


class EarlyStart:
    """A first generation started early: *pid* spawned at *started_at* (``time.monotonic()``)
    running *argv* on *fds* named *names*, told ``NOTIFY_SOCKET=`` *notify_address* (our
    socket *notify_fd*); *old_mask* is the signal mask before the early start blocked
    :data:`EARLY_SIGNALS`."""

    def __init__(
        self,
        pid: int,
        started_at: float,
        *,
        argv: list[str],
        fds: list[int],
        names: list[str],
        notify_fd: int,
        notify_address: str,
        old_mask: set[int],
    ) -> None:
        self.pid = pid
        self.started_at = started_at
        self.argv = argv
        self.fds = fds
        self.names = names
        self.notify_address = notify_address
        self.old_mask = old_mask
        self.adopted = False  # set by Generations.adopt: the child is the supervisor's now
        self._notify_fd: int | None = notify_fd
        self._blocked = True

    def disagreement(self, argv: Sequence[str], fds: Sequence[int], names: Sequence[str]) -> str:
        """Why the normal path's command and sockets differ from ours (``""``: they agree)."""
        if list(fds) != self.fds:
            return f"the resolved fds {list(fds)} are not the fds it got {self.fds}"
        if list(names) != self.names:
            return f"the resolved names {list(names)} are not the names it got {self.names}"
        if list(argv) != self.argv:
            return f"the command {list(argv)} is not the one it runs {self.argv}"
        return ""

    def take_notify_socket(self) -> int:
        """The readiness socket's fd; the caller owns it from now on."""
        fd = self._notify_fd
        if fd is None:
            raise ValueError("the early readiness socket was already taken or closed")
        self._notify_fd = None
        return fd

    def release(self) -> None:
        """Put the original signal mask back: held signals are delivered now."""
        if self._blocked:
            self._blocked = False
            _signal.pthread_sigmask(_signal.SIG_SETMASK, self.old_mask)

    def close(self, why: str, log: Callable[[str], None]) -> None:
        """Stop the child unless it was adopted (logging *why*), close what was not taken and
        put the signal mask back. Idempotent."""
        if not self.adopted:
            self.adopted = True  # stopped: nobody may adopt it any more
            log(f"stopping the early-started pid {self.pid}: {why}")
            _stop(self.pid)
        if self._notify_fd is not None:
            os.close(self._notify_fd)
            self._notify_fd = None
        self.release()


def plan(environ: Mapping[str, str], pid: int) -> tuple[list[int], list[str]] | None:
    """The fds and names *environ* passes to process *pid* (us), or None when the early start
    must not run: not activated for us, malformed, no names per fd, or any fd not a listening
    stream socket (the normal path then decides and words its error)."""
    pidfdid = None
    if LISTEN_PIDFDID in environ:
        from ..systemd.listen_fds import own_pidfd_inode_id  # rare; imports ctypes

        pidfdid = own_pidfd_inode_id()
    try:
        passed = parse_listen_env(environ, pid, pidfdid=pidfdid, ppid=os.getppid())
        if passed.count == 0 or passed.names is None:
            return None
        names = list(passed.fd_names())  # one name per fd, or ActivationError
    except ActivationError:
        return None
    fds = list(passed.fds)
    if not all(_listening_stream(fd) for fd in fds):
        return None
    return fds, names


def start_first(argv: Sequence[str], environ: Mapping[str, str]) -> EarlyStart | None:
    """Spawn *argv* now if :func:`plan` allows it (see the module docstring); else None."""
    planned = plan(environ, os.getpid())
    if planned is None:
        return None
    fds, names = planned
    old_mask: set[int] = _signal.pthread_sigmask(_signal.SIG_BLOCK, EARLY_SIGNALS)
    sock = None
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
        name = notify_name(os.getpid())
        sock.bind("\0" + name)
        sock.setblocking(False)
        env = child_environment(environ)
        env[NOTIFY_SOCKET] = "@" + name
        pid = spawn_with_sockets(argv, fds, names, env, sigmask=old_mask)
        started_at = time.monotonic()
    except Exception:
        if sock is not None:
            sock.close()
        _signal.pthread_sigmask(_signal.SIG_SETMASK, old_mask)
        return None
    except BaseException:
        if sock is not None:
            sock.close()
        _signal.pthread_sigmask(_signal.SIG_SETMASK, old_mask)
        raise
    fd = sock.detach()
    return EarlyStart(
        pid,
        started_at,
        argv=list(argv),
        fds=fds,
        names=names,
        notify_fd=fd,
        notify_address="@" + name,
        old_mask=old_mask,
    )


def _listening_stream(fd: int) -> bool:
    """True when *fd* is an IP or Unix stream socket in the listening state."""
    try:
        sock = _socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        return (
            sock.family in _FAMILIES
            and sock.type == _socket.SOCK_STREAM
            and sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN) == 1
        )
    except OSError:
        return False
    finally:
        sock.detach()


def _stop(pid: int) -> None:
    """SIGTERM *pid*, wait up to :data:`_STOP_GRACE` for it, then SIGKILL; reap it."""
    try:
        os.kill(pid, _signal.SIGTERM)
    except ProcessLookupError:  # not contextlib: it is not loaded on this path
        return
    deadline = time.monotonic() + _STOP_GRACE
    while time.monotonic() < deadline:
        try:
            reaped, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == pid:
            return
        time.sleep(0.01)
    try:
        os.kill(pid, _signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        return
