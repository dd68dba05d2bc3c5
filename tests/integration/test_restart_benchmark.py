"""Smoke run of benchmarks/restart.py: it prints its table, and supervise fails no request.

Timings are never asserted here (see the benchmark itself for numbers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_quick_benchmark_prints_one_table_and_supervise_fails_nothing(tmp_path: Path) -> None:
    """--quick over supervise, handoff and naive: one side-by-side table; zero failed requests
    for supervise and the handoff, and the naive restart is measured too."""
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "restart.py"),
            "--quick",
            "--scenarios",
            "supervise,handoff,naive",
            "--phases",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.split()[:3] == ["supervise", "handoff", "naive"])
    assert header
    for label in ("failed: refused", "max ms steady / restarts", "throughput ratio"):
        assert any(line.startswith(label) for line in lines), label
    results = {r["name"]: r for r in json.loads(out.read_text())}
    for name in ("supervise", "handoff"):
        run = results[name]
        assert run["restarts"] == 3
        assert run["steady"]["failures"] == 0
        assert run["during"]["failures"] == 0
        assert run["during"]["requests"] > 0
    assert results["naive"]["restarts"] == 3
    # --phases: one histogram per scenario, its buckets counting requests since the signal
    for name in ("supervise", "handoff", "naive"):
        assert any(line.startswith(f"{name}: requests slower than") for line in lines), name
    buckets = [line.split() for line in lines if line[:10].strip().startswith("0-50")]
    assert len(buckets) == 3
    assert all(int(row[1]) > 0 for row in buckets)


def test_start_priority_benchmark_prints_every_mode() -> None:
    """benchmarks/start_priority.py: a row per mode, requests measured in each, none failed."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "start_priority.py"), "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    assert set(rows) == {"none", "nice0", "nice10", "nice19", "idle"}
    for row in rows.values():
        assert float(row[1]) > 0  # req/s
        assert row[5] == "0"  # failed


def test_startup_only_control_under_a_background_hog(tmp_path: Path) -> None:
    """The controls: ``startup-only`` runs one start-up per "restart" and changes nothing, so
    one process answers every request, and the handoff's p99 ratio is split into the
    start-up's and the restart's share; ``--background-hog`` says so in the title."""
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "restart.py"),
            "--quick",
            "--scenarios",
            "handoff,startup-only",
            "--background-hog",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "a SCHED_IDLE busy loop throughout" in result.stdout
    assert "startup-only: control: a start-up at SCHED_IDLE per restart" in result.stdout
    handoff, run = json.loads(out.read_text())
    assert handoff["during"]["pids"] >= 2  # the handoff did change processes
    share = next(line for line in result.stdout.splitlines() if line.startswith("handoff: p99"))
    assert "= the start-up alone" in share
    assert "added by the restart" in share
    assert run["restarts"] == 3
    assert run["steady"]["failures"] == run["during"]["failures"] == 0
    assert run["during"]["requests"] > 0
    assert run["steady"]["pids"] == run["during"]["pids"] == 1


def test_handoff_unready_control_upgrades_but_never_hands_over(tmp_path: Path) -> None:
    """Each SIGHUP starts a new process that exits before READY=1: every restart counts (the
    upgrade failed, as the log says), the old process answers everything, nothing fails."""
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "benchmarks" / "restart.py"), "--quick",
            "--scenarios", "handoff-unready", "--phases", "--json", str(out),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "handoff-unready: control: the upgrade without the handover" in result.stdout
    assert "handoff-unready: the 5 slowest requests begun in restart windows" in result.stdout
    (run,) = json.loads(out.read_text())
    assert run["restarts"] == 3
    assert run["steady"]["failures"] == run["during"]["failures"] == 0
    assert run["during"]["requests"] > 0
    assert run["steady"]["pids"] == run["during"]["pids"] == 1
