"""benchmarks/_phases.py: where in a restart the slow requests are, and the slowest of them,
checked on a series written here (every request's time, latency, outcome and pid known)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _phases import phases, slowest  # noqa: E402


def result() -> dict[str, Any]:
    """Two restarts (at 1.0 and 2.0 s); pid 10 serves until the first, 20 until the second,
    30 after it; a refused request in the second window."""
    series = [
        (0.5, 1.0, "ok", 10),
        (1.01, 9.0, "ok", 10),  # old, 10 ms after signal 1
        (1.32, 4.0, "ok", 20),  # new, first answer of 20
        (1.42, 1.0, "ok", 20),
        (2.02, 7.0, "ok", 20),  # old for signal 2
        (2.10, 12.0, "refused", 0),
        (2.37, 30.0, "ok", 30),  # new
        (2.70, 50.0, "ok", 30),  # after the 0.6 s window: not counted
    ]
    return {"name": "handoff", "restart_at": [1.0, 2.0], "series": series,
            "steady": {"p99_ms": 2.0}}  # fmt: skip


def test_slowest_names_when_and_which_process_answered() -> None:
    lines = slowest(result(), 0.6, count=4).splitlines()
    assert lines[0] == "handoff: the 4 slowest requests begun in restart windows"
    assert [line.split() for line in lines[1:]] == [
        ["30.00", "ms", "begun", "370.0", "ms", "after", "signal", "2", "answered", "by", "30",
         "(new)"],
        ["12.00", "ms", "begun", "100.0", "ms", "after", "signal", "2", "answered", "by", "0",
         "(refused)"],
        ["9.00", "ms", "begun", "10.0", "ms", "after", "signal", "1", "answered", "by", "10",
         "(old)"],
        ["7.00", "ms", "begun", "20.0", "ms", "after", "signal", "2", "answered", "by", "20",
         "(old)"],
    ]  # fmt: skip


def test_phases_counts_the_slow_requests_per_bucket() -> None:
    text = phases(result(), 0.6)
    rows = {line.split()[0]: line.split()[1:3] for line in text.splitlines()[2:]}
    # slow: above 4 ms (2x steady p99); the buckets of both restarts add up
    assert rows["0-50"] == ["2", "2"]  # 9 ms after signal 1, 7 ms after signal 2
    assert rows["100-150"] == ["1", "1"]  # the refused one
    assert rows["300-350"] == ["1", "0"]  # 4.0 ms is not above 4
    assert rows["350-400"] == ["1", "1"]  # 30 ms
    assert rows["400-450"] == ["1", "0"]
