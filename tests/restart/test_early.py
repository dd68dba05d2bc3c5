"""The early start's parts with real processes and sockets: the plan's conditions, the hand-over
of the child, its readiness socket and the signal mask, and stopping a child nobody adopted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from socket_activation.restart.early import EARLY_SIGNALS, EarlyStart
from socket_activation.restart.generations import Generations, Outcome
from socket_activation.restart.readiness import ReadinessSocket
from socket_activation.restart.signals import HANDLED_SIGNALS

PLAN_PROBE = """
import _socket, json, os, sys
from socket_activation.restart.early import plan
os.dup2(os.open('/dev/null', os.O_RDONLY), 3)  # fd 3 taken: each socket is made above it
def place(kind, listen):
    s = _socket.socket(_socket.AF_INET, kind)
    s.bind(('127.0.0.1', 0))
    if listen:
        s.listen(8)
    os.dup2(s.fileno(), 3)
    s.close()
pid = os.getpid()
ours = {'LISTEN_PID': str(pid), 'LISTEN_FDS': '1', 'LISTEN_FDNAMES': 'web'}
out = {}
place(_socket.SOCK_STREAM, True)
out['listening'] = plan(ours, pid)
out['other pid'] = plan({**ours, 'LISTEN_PID': str(pid + 1)}, pid)
out['no names'] = plan({k: v for k, v in ours.items() if k != 'LISTEN_FDNAMES'}, pid)
out['two names'] = plan({**ours, 'LISTEN_FDNAMES': 'a:b'}, pid)
out['malformed'] = plan({**ours, 'LISTEN_FDS': 'x'}, pid)
out['recycled pid'] = plan({**ours, 'LISTEN_PIDFDID': '1'}, pid)
place(_socket.SOCK_STREAM, False)
out['not listening'] = plan(ours, pid)
place(_socket.SOCK_DGRAM, False)
out['datagram'] = plan(ours, pid)
os.close(3)
out['closed'] = plan(ours, pid)
print(json.dumps(out))
"""


def test_the_plan_takes_only_listening_stream_sockets_passed_to_us() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PLAN_PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    result = json.loads(out)
    assert result.pop("listening") == [[3], ["web"]]
    recycled = result.pop("recycled pid")
    # LISTEN_PIDFDID=1 is never a real pidfd id: refused where the kernel has pidfs ids
    assert recycled is None or recycled == [[3], ["web"]]
    assert result == dict.fromkeys(result, None)
    assert set(result) == {
        "other pid",
        "no names",
        "two names",
        "malformed",
        "not listening",
        "datagram",
        "closed",
    }


def test_the_early_start_blocks_every_signal_the_supervisor_handles() -> None:
    assert set(EARLY_SIGNALS) == {int(s) for s in HANDLED_SIGNALS}


def _sleeper() -> int:
    return os.posix_spawn("/bin/sleep", ["sleep", "30"], dict(os.environ))


def _early(pid: int, notify: socket.socket, mask: set[int]) -> EarlyStart:
    return EarlyStart(
        pid,
        time.monotonic(),
        argv=["sleep", "30"],
        fds=[],
        names=[],
        notify_fd=notify.detach(),
        notify_address="@test",
        old_mask=mask,
    )


def test_close_stops_a_child_nobody_adopted_and_restores_the_mask() -> None:
    original = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGWINCH])  # as the early start blocks
    pid = _sleeper()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fd = notify.fileno()
    early = _early(pid, notify, {int(s) for s in original})
    logged: list[str] = []
    try:
        early.close("a test", logged.append)
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == original
        try:
            reaped = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            reaped = None
        assert reaped is None, "the child was not reaped"
        try:
            os.fstat(fd)
        except OSError:
            pass
        else:
            raise AssertionError("the readiness fd was left open")
        assert logged == [f"stopping the early-started pid {pid}: a test"]
        early.close("again", logged.append)  # idempotent
        assert len(logged) == 1
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, original)


def test_an_adopted_child_is_a_generation_with_its_spawn_time_deadline() -> None:
    pid = _sleeper()
    started_at = time.monotonic() - 5.0
    try:
        gens = Generations(["sleep", "30"], [], [], {}, ready="notify", ready_timeout=30.0)
        assert gens.adopt(pid, started_at) == []
        assert gens.rolling_out
        assert gens.count == 1
        assert gens.next_deadline() == started_at + 30.0
        started = Generations(["sleep", "30"], [], [], {}, ready="started")
        (outcome,) = started.adopt(pid, started_at)
        assert isinstance(outcome, Outcome)
        assert outcome.ready
        assert started.serving is not None
        assert started.serving.pid == pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_an_adopted_readiness_socket_attributes_datagrams_to_their_sender() -> None:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    name = f"socket-activation-test/{os.getpid()}/{os.urandom(4).hex()}"
    raw.bind("\0" + name)
    with ReadinessSocket.adopt(raw.detach(), "@" + name) as readiness:
        assert readiness.address == "@" + name
        code = (
            "import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM);"
            "s.sendto(b'READY=1', '\\0' + sys.argv[1]); print(__import__('os').getpid())"
        )
        sender = subprocess.run(
            [sys.executable, "-c", code, name], capture_output=True, text=True, check=True
        )
        note = readiness.wait(10)
        assert note.ready
        assert note.pid == int(sender.stdout)


def test_disagreement_names_what_differs() -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    early = EarlyStart(
        1,
        0.0,
        argv=["prog", "a"],
        fds=[3, 4],
        names=["web", "api"],
        notify_fd=notify.detach(),
        notify_address="@x",
        old_mask=set(),
    )
    try:
        assert early.disagreement(["prog", "a"], [3, 4], ["web", "api"]) == ""
        assert "fds [3]" in early.disagreement(["prog", "a"], [3], ["web"])
        assert "names ['api', 'web']" in early.disagreement(["prog", "a"], [3, 4], ["api", "web"])
        assert "command ['prog', 'b']" in early.disagreement(["prog", "b"], [3, 4], ["web", "api"])
    finally:
        os.close(early.take_notify_socket())
