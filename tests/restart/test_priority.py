"""A starting generation is lowered (SCHED_IDLE or niced), every thread of it and of its
children, then restored."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.restart.priority import StartPriority, can_restore, lower, restore, tree
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


def policies(pid: int) -> set[int]:
    return {os.sched_getscheduler(t) for t in tree(pid)}


def test_idle_moves_every_task_to_sched_idle_then_back(family: tuple[int, int]) -> None:
    require_root()
    parent, child = family
    own = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = StartPriority("idle", 10).lower(parent)
    assert lowered is not None
    assert lowered.idle
    assert policies(parent) == {os.SCHED_IDLE}
    assert os.sched_getscheduler(child) == os.SCHED_IDLE
    lowered.restore()
    assert policies(parent) == {os.SCHED_OTHER}
    assert {nice_of(t) for t in tree(parent)} == {own}


def test_escalate_moves_an_idle_generation_to_nice_once(family: tuple[int, int]) -> None:
    require_root()
    parent, _child = family
    own = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = StartPriority("idle", 7).lower(parent)
    assert lowered is not None
    assert lowered.escalate() is True
    assert policies(parent) == {os.SCHED_OTHER}
    assert {nice_of(t) for t in tree(parent)} == {min(19, own + 7)}
    assert lowered.escalate() is False  # once
    lowered.restore()
    assert {nice_of(t) for t in tree(parent)} == {own}


def test_nice_mode_lowers_by_its_levels(family: tuple[int, int]) -> None:
    require_root()
    parent, _child = family
    own = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = StartPriority("nice", 5).lower(parent)
    assert lowered is not None
    assert not lowered.idle
    assert policies(parent) == {os.SCHED_OTHER}
    assert {nice_of(t) for t in tree(parent)} == {min(19, own + 5)}
    lowered.restore()
    assert {nice_of(t) for t in tree(parent)} == {own}


@pytest.mark.parametrize(("mode", "nice"), [("normal", 10), ("idle", 0), ("nice", 0)])
def test_normal_and_nice_zero_change_nothing(mode: str, nice: int) -> None:
    priority = StartPriority(mode, nice)
    assert priority.mode == "normal"
    assert priority.lower(os.getpid()) is None
    assert priority.unavailable() is None


@pytest.mark.parametrize(
    ("mode", "nice", "message"),
    [
        ("fast", 10, "start priority must be one of idle, nice, normal, got 'fast'"),
        ("nice", 20, "start nice must be 0..19, got 20"),
        ("idle", -1, "start nice must be 0..19, got -1"),
    ],
)
def test_bad_start_priorities_are_refused_by_name(mode: str, nice: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        StartPriority(mode, nice)


def test_without_the_right_to_restore_it_says_why() -> None:
    """As nobody with RLIMIT_NICE 0 (the default) neither idle nor nice can be undone."""
    require_root()  # to become nobody
    probe = (  # everything imported first: the interpreter's files may be root's only
        "import os, resource; from socket_activation.restart.priority import StartPriority as P; "
        "resource.setrlimit(resource.RLIMIT_NICE, (0, 0)); os.setgid(65534); os.setuid(65534); "
        "print(P('idle').unavailable()); print(P('nice', 3).unavailable())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    assert out == ["restoring the priority needs CAP_SYS_NICE or RLIMIT_NICE (LimitNICE=)"] * 2


# --- born(): supervise's spawn gives the child the start class from birth ---


def _spawn_inside(priority: StartPriority) -> tuple[bool, int, int, int]:
    """Spawn a sleeper inside ``priority.born()``: (what it gave, the calling thread's policy
    inside, the child's policy and nice); the child is killed."""
    with priority.born() as classed:
        inside = os.sched_getscheduler(0)
        proc = subprocess.Popen(["sleep", "30"])
    try:
        return classed, inside, os.sched_getscheduler(proc.pid), nice_of(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_born_idle_gives_the_child_sched_idle_and_the_thread_its_class_back() -> None:
    require_root()  # leaving SCHED_IDLE needs CAP_SYS_NICE (or RLIMIT_NICE)
    own = nice_of(0)
    assert _spawn_inside(StartPriority("idle", 10)) == (True, os.SCHED_IDLE, os.SCHED_IDLE, own)
    assert (os.sched_getscheduler(0), nice_of(0)) == (os.SCHED_OTHER, own)


def test_born_nice_gives_the_child_its_levels_and_the_thread_its_nice_back() -> None:
    require_root()  # a lower nice value again needs CAP_SYS_NICE (or RLIMIT_NICE)
    own = nice_of(0)
    lowered = min(19, own + 5)
    assert _spawn_inside(StartPriority("nice", 5)) == (True, os.SCHED_OTHER, 0, lowered)
    assert (os.sched_getscheduler(0), nice_of(0)) == (os.SCHED_OTHER, own)


def test_born_changes_nothing_in_normal_mode_or_for_a_thread_of_another_class() -> None:
    """A thread at SCHED_BATCH (its owner's choice) is not made idle and then put at OTHER."""
    own = nice_of(0)
    assert _spawn_inside(StartPriority("normal")) == (False, os.SCHED_OTHER, 0, own)
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    try:
        got = _spawn_inside(StartPriority("idle", 10))
        assert got == (False, os.SCHED_BATCH, os.SCHED_BATCH, own)
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def test_a_child_born_lowered_and_placed_is_not_walked_until_it_is_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Born on the spare CPUs at the start class: lower() has nothing left to set, so it lists
    no /proc (each listing lets the GIL go); restore() still walks once."""
    require_root()
    from socket_activation.restart import tasks

    walks: list[int] = []
    real = tasks.each

    def counted(pid: int, change: Callable[[int], None], **options: bool) -> bool:
        walks.append(pid)
        return real(pid, change, **options)

    monkeypatch.setattr("socket_activation.restart.priority.each", counted)
    priority = StartPriority("idle", 10, spare_cpus=frozenset(os.sched_getaffinity(0)))
    with priority.spawning() as placed, priority.born() as classed:
        proc = subprocess.Popen(["sleep", "30"])
    try:
        lowered = priority.lower(proc.pid, at_birth=placed, born_lowered=classed)
        assert lowered is not None
        assert lowered.idle
        assert walks == []
        assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
        lowered.restore()
        assert walks == [proc.pid]
        assert os.sched_getscheduler(proc.pid) == os.SCHED_OTHER
    finally:
        proc.kill()
        proc.wait()


def test_born_in_class_says_whether_a_child_is_already_idle() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not StartPriority("idle").born_in_class(child.pid)
        os.sched_setscheduler(child.pid, os.SCHED_IDLE, os.sched_param(0))
        assert StartPriority("idle").born_in_class(child.pid)
        assert not StartPriority("nice", 5).born_in_class(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not StartPriority("idle").born_in_class(child.pid)  # gone
