"""restart.retire: a process whose work is done exits at SCHED_IDLE, its children untouched.

Each test runs the retiring in a child interpreter, so this test process keeps its priority.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux only")

RETIRE_WITH_A_THREAD_AND_A_CHILD = """
import json, os, subprocess, sys, threading
from socket_activation.restart.retire import retire
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
gate = threading.Event()
worker = threading.Thread(target=gate.wait)
worker.start()
moved = retire()
tasks = [int(t) for t in os.listdir("/proc/self/task")]
print(json.dumps({
    "moved": moved,
    "threads": [os.sched_getscheduler(t) for t in tasks],
    "child": os.sched_getscheduler(child.pid),
}))
gate.set(); worker.join(); child.kill(); child.wait()
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )


def test_retire_moves_every_thread_of_this_process_and_not_its_child() -> None:
    """After a handoff the new generation is the old one's child: it must keep serving normally."""
    out = json.loads(run(RETIRE_WITH_A_THREAD_AND_A_CHILD).stdout)
    assert out["moved"] is True
    assert len(out["threads"]) == 2
    assert set(out["threads"]) == {os.SCHED_IDLE}
    assert out["child"] == os.SCHED_OTHER


def test_retire_of_a_process_that_is_gone_says_so() -> None:
    from socket_activation.restart.retire import retire

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert retire(proc.pid) is False


def test_retire_at_exit_runs_once_when_the_interpreter_exits() -> None:
    """Armed twice, registered once; handlers registered before it run after it, at SCHED_IDLE."""
    code = """
import atexit, os
from socket_activation.restart.retire import retire_at_exit
atexit.register(lambda: print("at exit", os.sched_getscheduler(0), atexit._ncallbacks()))
before = atexit._ncallbacks()
retire_at_exit(); retire_at_exit()
print("armed", atexit._ncallbacks() - before, os.sched_getscheduler(0))
"""
    lines = run(code).stdout.splitlines()
    assert lines[0] == f"armed 1 {os.SCHED_OTHER}"
    assert lines[1].startswith(f"at exit {os.SCHED_IDLE} ")
