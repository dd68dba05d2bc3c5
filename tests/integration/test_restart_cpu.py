"""benchmarks/restart_cpu.py adds up who held the serving CPUs from the scheduler's switches:
checked on a small trace written here in ``perf script``'s format, every span known."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "restart_cpu", ROOT / "benchmarks" / "restart_cpu.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cpu = _load()


def switch(task: tuple[int, int, str], where: int, t: float, nxt: int, nxt_comm: str) -> str:
    """Task (pid, tid, comm) leaves CPU *where* at *t*; thread *nxt* comes in."""
    pid, tid, comm = task
    return (
        f"{comm} {pid}/{tid} [{where:03d}] {t:.6f}: sched:sched_switch: prev_comm={comm} "
        f"prev_pid={tid} prev_prio=120 prev_state=S ==> next_comm={nxt_comm} "
        f"next_pid={nxt} next_prio=120"
    )


IDLE = (0, 0, "swapper/0")
LOAD = (200, 201, "python")
OLD = (100, 101, "python")
NEW = (300, 300, "python")


def trace() -> str:
    """CPU 0 from 10.0 to 12.0: the load and the old generation in the quiet second; in the
    restart second the new generation too (before and after its first answer), a kworker and
    an idle stretch. CPU 1 runs the new generation, which is not counted."""
    return "\n".join(
        [
            switch(IDLE, 0, 10.0, 201, "python"),  # the first span of a CPU is dropped
            switch(LOAD, 0, 10.4, 101, "python"),  # load 10.0-10.4
            switch(OLD, 0, 11.0, 201, "python"),  # old 10.4-11.0
            switch(LOAD, 0, 11.2, 300, "python"),  # load 11.0-11.2
            switch(NEW, 0, 11.3, 101, "python"),  # new 11.2-11.3, before its first answer
            switch(OLD, 0, 11.5, 7, "kworker/0:1"),  # old 11.3-11.5
            switch((7, 7, "kworker/0:1"), 0, 11.6, 0, "swapper/0"),  # kworker 11.5-11.6
            switch(IDLE, 0, 11.7, 300, "python"),  # idle 11.6-11.7
            switch(NEW, 0, 12.0, 0, "swapper/0"),  # new 11.7-12.0, serving
            switch(IDLE, 1, 10.0, 300, "python"),
            switch(NEW, 1, 12.0, 0, "swapper/1"),  # on CPU 1: not a serving CPU
        ]
    )


def result() -> dict[str, object]:
    """One restart at 11.0 (t0 = 10.0, restart_at = [1.0]); answers by pid, as restart.py
    records them: (start since t0, latency ms, outcome, pid)."""
    series = [(0.1, 1.0, "ok", 100), (0.9, 1.0, "ok", 100), (1.2, 1.0, "ok", 100)]
    series += [(1.5, 1.0, "ok", 300), (1.9, 1.0, "ok", 300), (1.95, 1.0, "reset", 0)]
    return {"t0": 10.0, "restart_at": [1.0], "series": series, "load_pid": 200, "launcher_pid": 9}


def test_spans_are_cut_at_each_switch_and_named_by_the_task_that_left() -> None:
    spans = cpu.parse_spans(trace())
    on_zero = [(s.pid, s.tid, round(s.start, 1), round(s.end, 1)) for s in spans if s.cpu == 0]
    assert on_zero[:3] == [(200, 201, 10.0, 10.4), (100, 101, 10.4, 11.0), (200, 201, 11.0, 11.2)]
    assert (0, 0, 11.6, 11.7) in on_zero  # the idle task is pid 0
    assert len([s for s in spans if s.cpu == 1]) == 1  # its first span has no start: dropped


def test_budget_splits_the_serving_cpu_by_owner_and_kind_of_window() -> None:
    table = cpu.budget(result(), cpu.parse_spans(trace()), {0}, 1.0)
    quiet, restart = table["quiet"], table["restart"]
    assert quiet["load"] == pytest.approx(400.0)
    assert quiet["generation serving"] == pytest.approx(600.0)
    assert quiet["idle"] == pytest.approx(0.0, abs=1e-6)
    assert restart["load"] == pytest.approx(200.0)
    assert restart["generation starting"] == pytest.approx(100.0)  # 300 before its 11.5 answer
    assert restart["generation leaving"] == pytest.approx(200.0)  # 100 after its 11.2 answer
    assert restart["generation serving"] == pytest.approx(300.0)  # 300 from 11.7
    assert restart["kworker"] == pytest.approx(100.0)
    assert restart["idle"] == pytest.approx(100.0)
    assert (quiet["answered/s"], restart["answered/s"]) == (2.0, 3.0)  # the reset is no answer


def test_a_generation_serves_from_its_first_to_its_last_answer() -> None:
    """With old's last answer at 11.25 its 11.3-11.5 span is leaving; with it at 11.9 it is
    serving."""
    late = [(0.1, 1.0, "ok", 100), (1.25, 1.0, "ok", 300), (1.9, 1.0, "ok", 300)]
    table = cpu.budget(dict(result(), series=late), cpu.parse_spans(trace()), {0}, 1.0)
    assert table["restart"]["generation leaving"] == pytest.approx(200.0)  # old 11.3-11.5
    served = [(0.1, 1.0, "ok", 100), (1.9, 1.0, "ok", 100), (1.5, 1.0, "ok", 300)]
    served.append((1.99, 1.0, "ok", 300))
    table = cpu.budget(dict(result(), series=served), cpu.parse_spans(trace()), {0}, 1.0)
    assert "generation leaving" not in table["restart"]
    assert table["restart"]["generation serving"] == pytest.approx(200.0 + 300.0)


def test_render_prints_each_owner_and_the_cost_per_answer() -> None:
    table = cpu.budget(result(), cpu.parse_spans(trace()), {0}, 1.0)
    text = cpu.render("handoff", table, {0})
    assert text.splitlines()[0] == "handoff: CPU ms per second on CPUs 0"
    assert ["kworker", "0.0", "100.0", "+100.0"] in [line.split() for line in text.splitlines()]
    assert "load µs/answer" in text
    assert "1.500x" in text  # 3 answers against 2


def test_after_signal_cuts_buckets_after_each_signal_and_one_interval_earlier() -> None:
    """Buckets of 0.25 s from the signal at 11.0 (then) and from 10.0 (one interval earlier):
    each owner's CPU seconds and the answers, as the trace and the series say."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _after_signal import after_signal, render

    res, spans = result(), cpu.parse_spans(trace())
    lives = cpu._lifetimes(res)
    then, earlier = after_signal(
        res, spans, {0}, lambda span, at: cpu.owner(span, at, res, lives),
        width=0.25, count=4, offset=0.0, interval=1.0,
    )  # fmt: skip
    # 11.00-11.25: load 11.0-11.2, new (starting) 11.2-11.25; 11.25-11.5: new 11.25-11.3, old
    # (leaving after its 11.2 answer) 11.3-11.5; 11.5-11.75: kworker, idle, new serving 0.05
    assert then[0]["load"] == pytest.approx(0.2)
    assert then[0]["generation starting"] == pytest.approx(0.05)
    assert then[1]["generation leaving"] == pytest.approx(0.2)
    assert then[2]["kworker"] == pytest.approx(0.1)
    assert then[2]["idle"] == pytest.approx(0.1)
    assert then[3]["generation serving"] == pytest.approx(0.25)
    assert [b["answered"] for b in then] == [1, 0, 1, 1]  # 11.2, 11.5, 11.9; the reset is none
    # 10.00-10.25 and 10.25-10.4: the load; 10.4-11.0: the old generation, serving
    assert earlier[0]["load"] == pytest.approx(0.25)
    assert earlier[1]["load"] == pytest.approx(0.15)
    assert earlier[1]["generation serving"] == pytest.approx(0.1)
    assert earlier[3]["generation serving"] == pytest.approx(0.25)
    assert [b["answered"] for b in earlier] == [1, 0, 0, 1]
    text = render("handoff", then, earlier, restarts=1, width=0.25, offset=0.0)
    assert text.splitlines()[2].split()[:3] == ["0", "1", "1"]
    assert "200.00/250.00" in text.splitlines()[2]  # the load's ms then / earlier


def test_after_signal_is_refused_unless_ms_count_from(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("1", "0,10", "1,0", "1,2.5", "1,x", "1,2,3,4"):
        with pytest.raises(SystemExit) as exited:
            cpu.main(["--again", "/nonexistent", "--after-signal", bad])
        assert exited.value.code == 2
        assert f"--after-signal: expected MS,COUNT[,FROM] (e.g. 1,10), got {bad!r}" in (
            capsys.readouterr().err
        )
