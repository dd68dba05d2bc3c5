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
