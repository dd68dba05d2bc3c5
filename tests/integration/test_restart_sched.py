"""benchmarks/restart_sched.py rebuilds waits from the scheduler's trace: checked on a small
trace written here in ``perf script``'s format, where every wait is known in advance."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "restart_sched", ROOT / "benchmarks" / "restart_sched.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sched = _load()


def switch(task: tuple[int, int], cpu: int, t: float, prev_state: str, nxt: int) -> str:
    """*task* (pid, tid) leaves CPU *cpu* at *t* in *prev_state*; thread *nxt* comes in."""
    pid, tid = task
    return (
        f"python {pid}/{tid} [{cpu:03d}] {t:.6f}: sched:sched_switch: prev_comm=python "
        f"prev_pid={tid} prev_prio=120 prev_state={prev_state} ==> next_comm=python "
        f"next_pid={nxt} next_prio=120"
    )


def waking(pid: int, tid: int, cpu: int, t: float, woken: int) -> str:
    return (
        f"python {pid}/{tid} [{cpu:03d}] {t:.6f}: sched:sched_waking: comm=python "
        f"pid={woken} prio=120 target_cpu={cpu:03d}"
    )


def test_a_woken_thread_waits_until_it_is_switched_in() -> None:
    """Server thread 101 (process 100) wakes load thread 201 (process 200) at 1.001 and holds
    CPU 0 until 1.004: one wait of 3 ms, held by 101, its holder process 100."""
    trace = [
        switch((0, 0), 0, 1.000, "R", 101),
        waking(100, 101, 0, 1.001, 201),
        switch((100, 101), 0, 1.004, "S", 201),
        switch((200, 201), 0, 1.005, "S", 0),
    ]
    waits, tgid = sched.parse_waits("\n".join(trace))
    (wait,) = [w for w in waits if w.tid == 201]
    assert (wait.pid, wait.cpu, wait.holder, wait.held_by) == (200, 0, 100, "python:101")
    assert round((wait.ran - wait.woken) * 1000, 3) == 3.0
    assert tgid[201] == 200


def test_a_preempted_thread_is_still_runnable() -> None:
    """Thread 301 is switched out in state R at 1.010 and back in at 1.012: a 2 ms wait; a
    thread that went to sleep (state S) and is switched in without a wake-up is no wait."""
    trace = [
        switch((0, 0), 1, 1.000, "R", 301),
        switch((300, 301), 1, 1.010, "R", 101),
        switch((100, 101), 1, 1.012, "S", 301),
        switch((300, 301), 1, 1.013, "S", 101),  # 101 slept: not waiting
    ]
    waits, _ = sched.parse_waits("\n".join(trace))
    assert [(w.tid, round((w.ran - w.woken) * 1000, 3)) for w in waits] == [(301, 2.0)]
    assert waits[0].holder == 100


def test_a_wait_past_the_tracking_limit_is_dropped() -> None:
    """Runnable for a whole second: a thread lost track of (an exit, a reused tid), not kept."""
    trace = [
        switch((0, 0), 0, 1.000, "R", 101),
        waking(100, 101, 0, 1.001, 201),
        switch((100, 101), 0, 2.001, "S", 201),
        switch((200, 201), 0, 2.002, "S", 0),
    ]
    waits, _ = sched.parse_waits("\n".join(trace))
    assert [w.tid for w in waits] == []


def test_a_reused_thread_id_belongs_to_the_process_of_its_time() -> None:
    processes = sched._Processes()
    processes.note(401, 400, 1.0)
    processes.note(401, 500, 3.0)
    assert processes.at(401, 1.5) == 400
    assert processes.at(401, 3.5) == 500
    assert processes.at(0, 1.0) == 0  # the idle task
    assert processes.at(999, 1.0) == -1  # never seen


def test_long_waits_are_counted_by_what_held_the_cpu_before_and_after_ready() -> None:
    """A restart at t0 + 1 s; process 11 answers first at t0 + 1.3 s (its READY=1), 10 served
    before it, 99 is the load. Waits over 2 ms in the window, by holder; shorter ones, those
    outside the window and those of other processes are not counted."""
    t0 = 100.0
    result = {
        "t0": t0,
        "restart_at": [1.0],
        "series": [(0.5, 1.0, "ok", 10), (1.3, 1.0, "ok", 11), (1.5, 1.0, "ok", 11)],
    }

    def wait(pid: int, woken: float, ms: float, holder: int) -> object:
        return sched.Wait(pid + 1, pid, t0 + woken, t0 + woken + ms / 1000, 0, "x", holder)

    waits = [
        wait(10, 1.10, 4.0, 11),  # behind the starting generation, before its READY
        wait(99, 1.20, 3.0, 0),  # an idle CPU did not pick the load up
        wait(11, 1.40, 3.0, 10),  # behind the leaving generation, after READY
        wait(99, 1.45, 1.5, 10),  # too short
        wait(10, 2.00, 3.0, 11),  # outside the restart window
        wait(50, 1.10, 5.0, 10),  # not a watched process
    ]
    text = sched.holders(result, waits, 99, {10, 11})
    assert "waits over 2 ms in restart windows: 3 (outside them: 1)" in text
    rows = {line[:36].strip(): line[36:].split() for line in text.splitlines()[3:]}
    assert rows == {
        "the starting generation": ["1", "0"],
        "an idle CPU": ["1", "0"],
        "the serving / leaving generation": ["0", "1"],
    }
