"""A starting generation is niced, every thread of it and of its children, then restored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation.restart.priority import can_restore, lower, restore, tree
from tests.conftest import require_root

# a parent with a second thread and a child process, all sleeping
FAMILY = """
import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def nice_of(task: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, task)


@pytest.fixture
def family() -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    deadline = time.monotonic() + 10
    while len(tree(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    yield proc.pid, child
    for pid in (child, proc.pid):
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def test_tree_lists_threads_and_descendants(family: tuple[int, int]) -> None:
    parent, child = family
    tasks = tree(parent)
    assert parent in tasks
    assert child in tasks
    assert len([t for t in tasks if Path(f"/proc/{parent}/task/{t}").exists()]) >= 2


def test_lower_then_restore_every_task(family: tuple[int, int]) -> None:
    require_root()  # restoring needs CAP_SYS_NICE
    parent, _child = family
    base = lower(parent, 10)
    assert base == os.getpriority(os.PRIO_PROCESS, 0)
    assert {nice_of(t) for t in tree(parent)} == {min(19, base + 10)}
    restore(parent, base)
    assert {nice_of(t) for t in tree(parent)} == {base}


def test_can_restore_needs_a_positive_increment() -> None:
    assert not can_restore(0)
    if os.geteuid() == 0:
        assert can_restore(10)
