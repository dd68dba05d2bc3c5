"""Ask a supervisor or a handoff-enabled server to reload, and wait for the truth.

This is ``socket-activation reload`` (``ExecReload=socket-activation reload``): it connects to
the control socket of process *pid* (:mod:`socket_activation.restart.control`), asks for a
reload and waits for the answer, which comes only once the outcome is known:

- success: the new generation sent ``READY=1`` *and* the old one has let go of the listening
  sockets, so every connection made from now on is served by the new code;
- failure: the new generation exited, crashed or sent no ``READY=1`` in time; it was stopped,
  and the old one keeps serving. :class:`ReloadError` carries the reason.

The client trusts the answer only from the process it asked: the kernel's ``SO_PEERCRED`` of
the socket must name *pid*, or the name was squatted by someone else and the reload is refused.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import time

from .._errors import ReloadError
from .._record import record
from .control import control_address, peer_credentials
from .release import holders

__all__ = ["DEFAULT_TIMEOUT", "ReloadError", "ReloadOutcome", "request_reload"]

# systemd's default TimeoutStartSec=, which also bounds ExecReload=: the client waits as long
DEFAULT_TIMEOUT = 90.0
# an answer is one small JSON object
_MAX_ANSWER = 65536
# how often to look whether the old process of a handoff has closed the listening sockets
_RELEASE_POLL = 0.005


@record
class ReloadOutcome:
    """A successful reload: the new generation's ``pid`` (None if not told) and a summary."""

    pid: int | None
    message: str


def request_reload(pid: int, *, timeout: float = DEFAULT_TIMEOUT) -> ReloadOutcome:
    """Reload process *pid* and wait up to *timeout* seconds for the outcome.

    Raises :class:`ReloadError` when the reload failed, when *pid* has no control socket, when
    the socket is held by another process, or when no answer came in time.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(control_address(pid))
        except (ConnectionRefusedError, FileNotFoundError):
            raise ReloadError(
                f"process {pid} has no control socket: it is not running, or it is neither "
                "'socket-activation supervise' nor a server that serves reload requests"
            ) from None
        except OSError as exc:
            raise ReloadError(f"cannot reach process {pid}: {exc}") from exc
        peer = peer_credentials(sock)
        if peer.pid != pid:
            raise ReloadError(
                f"the control socket of process {pid} is held by process {peer.pid} "
                f"(uid {peer.uid}): refusing to trust it"
            )
        request = {"action": "reload", "timeout": timeout}
        try:
            sock.sendall(json.dumps(request).encode())
        except OSError as exc:
            raise ReloadError(f"cannot send the request to process {pid}: {exc}") from exc
        data = _receive(sock, pid, deadline, timeout)
    outcome, release = _outcome(data, pid)
    if release is not None:
        return _wait_released(outcome, *release, deadline)
    return outcome


def _receive(sock: socket.socket, pid: int, deadline: float, timeout: float) -> bytes:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReloadError(
                f"no outcome from process {pid} within {timeout:g} s; "
                "the reload may still be under way"
            )
        try:
            readable, _, _ = select.select([sock], [], [], remaining)
        except InterruptedError:
            continue
        if not readable:
            continue
        try:
            return sock.recv(_MAX_ANSWER)
        except ConnectionResetError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise ReloadError(f"lost the connection to process {pid}: {exc}") from exc


def _wait_released(
    outcome: ReloadOutcome, holder: int, inodes: list[int], deadline: float
) -> ReloadOutcome:
    """Wait until *holder* (the old process of a handoff) closed the listening sockets.

    A server answers as soon as its successor is ready; it stops accepting a moment later and
    may exit before it could tell us, so the client watches for that itself.
    """
    started = time.monotonic()
    while holders([holder], inodes, with_descendants=False):
        if time.monotonic() >= deadline:
            return ReloadOutcome(
                outcome.pid,
                f"{outcome.message}; process {holder} still holds the listening sockets",
            )
        time.sleep(_RELEASE_POLL)
    waited = (time.monotonic() - started) * 1000
    return ReloadOutcome(
        outcome.pid, f"{outcome.message}; process {holder} let go of the sockets in {waited:.0f} ms"
    )


def _outcome(data: bytes, pid: int) -> tuple[ReloadOutcome, tuple[int, list[int]] | None]:
    if not data:
        alive = _alive(pid)
        raise ReloadError(
            f"process {pid} closed the connection without an answer"
            + ("" if alive else " and has exited")
        )
    try:
        answer = json.loads(data)
    except ValueError:
        raise ReloadError(
            f"process {pid} answered something that is not JSON: {data[:80]!r}"
        ) from None
    if not isinstance(answer, dict):
        raise ReloadError(f"process {pid} answered {answer!r}, not an object")
    if answer.get("ok") is True:
        new_pid = answer.get("pid")
        outcome = ReloadOutcome(
            new_pid if isinstance(new_pid, int) else None, str(answer.get("message", "reloaded"))
        )
        release = answer.get("release")
        if isinstance(release, dict):
            holder, inodes = release.get("pid"), release.get("inodes")
            if isinstance(holder, int) and isinstance(inodes, list):
                return outcome, (holder, [i for i in inodes if isinstance(i, int)])
        return outcome, None
    raise ReloadError(str(answer.get("error") or f"process {pid} reported a failure: {answer!r}"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
