"""restart.affinity / tasks.each: spare CPUs for a generation that does not serve, on real
processes; the CPU list a user types; the re-listing that catches threads born meanwhile."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.restart import affinity, tasks
from socket_activation.restart.priority import StartPriority
from tests.conftest import require

USABLE = sorted(affinity.usable_cpus())
# a child with a second thread and a grandchild; it prints both pids, then sleeps
FAMILY = """
import os, subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(os.getpid(), grandchild.pid, flush=True)
time.sleep(60)
"""


def masks(pid: int) -> set[frozenset[int]]:
    """The distinct CPU affinities of *pid*'s threads."""
    return {frozenset(os.sched_getaffinity(t)) for t in tasks.threads(pid)}


@pytest.fixture
def family() -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child, grandchild = map(int, proc.stdout.readline().split())
    try:
        yield child, grandchild
    finally:
        for pid in (grandchild, child):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        proc.wait()
        proc.stdout.close()


def two_cpus() -> tuple[int, int]:
    require(len(USABLE) >= 2, "needs two usable CPUs")
    return USABLE[0], USABLE[-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", {0}), ("0,0", {0}), (" 0 ", {0})],
)
def test_a_cpu_list_is_read_as_taskset_writes_it(text: str, expected: set[int]) -> None:
    assert affinity.parse_cpus(text) == expected


def test_a_range_covers_its_ends() -> None:
    first, last = two_cpus()
    assert affinity.parse_cpus(f"{first}-{last}") == set(range(first, last + 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no CPU named"),
        ("one", "'one' is not a CPU number or range"),
        ("3-1", "'3-1' is not a CPU range"),
        ("-1", "is not a CPU"),
        ("4096", "CPU 4096 cannot be used here"),
    ],
)
def test_a_bad_cpu_list_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        affinity.parse_cpus(text)
    assert repr(text) in str(caught.value)


def test_move_sets_every_thread_of_the_tree(family: tuple[int, int]) -> None:
    _first, last = two_cpus()
    child, grandchild = family
    assert affinity.move(child, {last})
    assert masks(child) == {frozenset({last})}
    assert len(tasks.threads(child)) >= 2  # the second thread was moved too
    assert masks(grandchild) == {frozenset({last})}


def test_move_without_children_leaves_the_child_where_it_is(family: tuple[int, int]) -> None:
    first, last = two_cpus()
    child, grandchild = family
    affinity.move(child, {first})
    affinity.move(child, {last}, children=False)
    assert masks(child) == {frozenset({last})}
    assert masks(grandchild) == {frozenset({first})}


def test_move_of_a_process_that_is_gone_says_so() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not affinity.move(proc.pid, {USABLE[0]})


def test_start_priority_moves_a_start_up_to_the_spare_cpus_and_back(
    family: tuple[int, int],
) -> None:
    """Normal priority with spare CPUs: lowered onto them, restored to the caller's own."""
    first, last = two_cpus()
    child, grandchild = family
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {first})
    try:
        lowered = StartPriority("normal", spare_cpus=frozenset({last})).lower(child)
        assert lowered is not None
        assert masks(child) == masks(grandchild) == {frozenset({last})}
        lowered.restore()
        assert masks(child) == masks(grandchild) == {frozenset({first})}
    finally:
        os.sched_setaffinity(0, own)


def test_set_aside_moves_a_leaving_generation_only_with_spare_cpus(
    family: tuple[int, int],
) -> None:
    first, last = two_cpus()
    child, _grandchild = family
    affinity.move(child, {first})
    assert not StartPriority("normal").set_aside(child)
    assert masks(child) == {frozenset({first})}
    assert StartPriority("idle", spare_cpus=frozenset({last})).set_aside(child)
    assert masks(child) == {frozenset({last})}


def test_each_lists_again_until_no_new_task_shows_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads 3 and then 4 are born while the walk runs: each is changed once, then it stops."""
    listings = iter([[1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4]])
    monkeypatch.setattr(tasks, "tree", lambda _pid: next(listings))
    changed: list[int] = []
    assert tasks.each(99, changed.append)
    assert changed == [1, 2, 3, 4]


def test_each_skips_a_task_it_may_not_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "tree", lambda _pid: [1, 2])

    def change(task: int) -> None:
        if task == 1:
            raise ProcessLookupError(task)

    assert tasks.each(99, change)
    assert not tasks.each(99, lambda task: change(1))


def test_threads_of_a_process_that_is_gone_are_none() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not Path(f"/proc/{proc.pid}").exists()
    assert tasks.threads(proc.pid) == []


def test_a_child_spawned_inside_spawning_is_born_on_the_spare_cpus() -> None:
    """The calling thread moves for the spawn and back; the child keeps the spare CPUs."""
    first, last = two_cpus()
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {first})
    spawned: list[subprocess.Popen[bytes]] = []
    try:
        with StartPriority("normal", spare_cpus=frozenset({last})).spawning():
            spawned.append(subprocess.Popen(["sleep", "5"]))
        assert os.sched_getaffinity(0) == {first}
        assert os.sched_getaffinity(spawned[0].pid) == {last}
        with StartPriority("normal").spawning():  # no spare CPUs: nothing moves
            spawned.append(subprocess.Popen(["sleep", "5"]))
        assert os.sched_getaffinity(spawned[1].pid) == {first}
    finally:
        os.sched_setaffinity(0, own)
        for proc in spawned:
            proc.kill()
            proc.wait()


def test_with_a_home_a_start_up_goes_back_there_not_to_the_callers_cpus(
    family: tuple[int, int],
) -> None:
    """supervise runs on the spare CPU itself: a generation it restores goes to *home*."""
    first, last = two_cpus()
    child, grandchild = family
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {last})  # the caller on the spare CPU, as supervise is
    try:
        priority = StartPriority("normal", spare_cpus=frozenset({last}), home=frozenset({first}))
        lowered = priority.lower(child)
        assert lowered is not None
        assert masks(child) == masks(grandchild) == {frozenset({last})}
        lowered.restore()
        assert masks(child) == masks(grandchild) == {frozenset({first})}
        assert priority.without_priority().home == frozenset({first})
    finally:
        os.sched_setaffinity(0, own)


def test_a_child_spawned_inside_spawning_home_is_born_on_the_home_cpus() -> None:
    first, last = two_cpus()
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {last})
    spawned: list[subprocess.Popen[bytes]] = []
    try:
        priority = StartPriority("idle", spare_cpus=frozenset({last}), home=frozenset({first}))
        with priority.spawning_home():
            spawned.append(subprocess.Popen(["sleep", "5"]))
        assert os.sched_getaffinity(0) == {last}
        assert os.sched_getaffinity(spawned[0].pid) == {first}
        with StartPriority("idle", spare_cpus=frozenset({last})).spawning_home():  # no home
            spawned.append(subprocess.Popen(["sleep", "5"]))
        assert os.sched_getaffinity(spawned[1].pid) == {last}
    finally:
        os.sched_setaffinity(0, own)
        for proc in spawned:
            proc.kill()
            proc.wait()


def test_lower_at_birth_leaves_the_cpus_the_spawn_gave(family: tuple[int, int]) -> None:
    """at_birth: the child was born on the spare CPUs inside spawning(); lower() does not walk
    its threads for the affinity again (here it is elsewhere, so a walk would show)."""
    first, last = two_cpus()
    child, _grandchild = family
    affinity.move(child, {first})
    priority = StartPriority("normal", spare_cpus=frozenset({last}))
    assert priority.lower(child, at_birth=True) is not None
    assert masks(child) == {frozenset({first})}
    assert priority.lower(child) is not None
    assert masks(child) == {frozenset({last})}


def test_restore_puts_affinity_class_and_nice_back_in_one_walk(
    family: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each walk lists /proc again and again (every read lets the GIL go, and in the handoff
    the serving threads wait for each turn): restore() walks once for all three."""
    first, last = two_cpus()
    child, grandchild = family
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {first})
    try:
        lowered = StartPriority("nice", 5, spare_cpus=frozenset({last})).lower(child)
        assert lowered is not None
        assert os.getpriority(os.PRIO_PROCESS, grandchild) == min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + 5
        )
        walks: list[int] = []
        real = tasks.each

        def counted(pid: int, change: Callable[[int], None], **options: bool) -> bool:
            walks.append(pid)
            return real(pid, change, **options)

        for module in ("priority", "affinity"):
            monkeypatch.setattr(f"socket_activation.restart.{module}.each", counted)
        lowered.restore()
        assert walks == [child]
        assert masks(child) == masks(grandchild) == {frozenset({first})}
        assert os.getpriority(os.PRIO_PROCESS, grandchild) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        os.sched_setaffinity(0, own)
