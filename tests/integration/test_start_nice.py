"""supervise --start-priority/--start-nice: the generation that starts while another serves runs
lowered (SCHED_IDLE by default, or niced) until READY=1, then at the supervisor's own priority;
the first generation is never lowered."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation.restart.readiness import ReadinessSocket
from socket_activation.restart.spawn import spawn_with_sockets
from tests.conftest import require_root
from tests.integration.test_supervise import APP, ROOT, Supervise

pytestmark = pytest.mark.integration


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def children_of(pid: int) -> list[int]:
    """Child processes of every thread of *pid* (the upgrade spawns from a thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def nice_of(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def policy_of(pid: int) -> int:
    return os.sched_getscheduler(pid)


@pytest.mark.parametrize(
    ("option", "policy", "while_starting"),
    [
        pytest.param([], os.SCHED_IDLE, 0, id="default-idle"),
        pytest.param(["--start-priority", "nice"], os.SCHED_OTHER, 10, id="nice"),
        pytest.param(["--start-nice", "5"], os.SCHED_OTHER, 5, id="start-nice-implies-nice"),
        pytest.param(["--start-nice", "0"], os.SCHED_OTHER, 0, id="off"),
        pytest.param(["--start-priority", "normal"], os.SCHED_OTHER, 0, id="normal"),
    ],
)
def test_new_generation_is_lowered_until_ready(
    listener: socket.socket, tmp_path: Path, option: list[str], policy: int, while_starting: int
) -> None:
    require_root()  # restoring a priority needs CAP_SYS_NICE
    own = os.getpriority(os.PRIO_PROCESS, 0)
    command = [sys.executable, APP, "--startup", "1.5"]
    sup = Supervise(tmp_path, [listener], option, command=command)
    try:
        sup.wait_ready()
        first = sup.generation_pid(1)
        assert (policy_of(first), nice_of(first)) == (os.SCHED_OTHER, own)
        os.kill(sup.pid, signal.SIGHUP)
        second = sup.generation_pid(2)
        time.sleep(0.3)  # in its 1.5 s start-up
        assert (policy_of(second), nice_of(second)) == (policy, min(19, own + while_starting))
        sup.wait_log(r"generation 2 \(pid \d+\) is ready")
        assert (policy_of(second), nice_of(second)) == (os.SCHED_OTHER, own)
    finally:
        sup.close()


def test_handoff_runs_the_new_process_idle_until_ready(listener: socket.socket) -> None:
    """restart_app --upgrade-on-hup: SIGHUP starts its successor, at SCHED_IDLE while it starts
    (1.5 s), then at the old process's priority once it said READY=1."""
    require_root()
    own = os.getpriority(os.PRIO_PROCESS, 0)
    manager = ReadinessSocket()
    env = dict(os.environ, NOTIFY_SOCKET=manager.address, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    argv = [sys.executable, APP, "--startup", "1.5", "--upgrade-on-hup"]
    old = spawn_with_sockets(argv, [listener.fileno()], ["web"], env)
    new = 0
    try:
        manager.wait_ready(old, 20)
        os.kill(old, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not new and time.monotonic() < deadline:
            new = next(iter(children_of(old)), 0)
            time.sleep(0.02)
        assert new, "no successor started"
        time.sleep(0.3)  # in its 1.5 s start-up
        assert (policy_of(new), nice_of(new)) == (os.SCHED_IDLE, own)
        deadline = time.monotonic() + 20
        while Path(f"/proc/{old}").exists() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(old, os.WNOHANG)
            time.sleep(0.05)
        # the old one handed over and restored it first
        assert (policy_of(new), nice_of(new)) == (os.SCHED_OTHER, own)
    finally:
        for pid in (new, old):
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                if pid:
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(old, 0)
        manager.close()
