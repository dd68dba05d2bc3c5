"""Smoke run of benchmarks/first_request.py and benchmarks/idle_check.py: each prints its table.

Timings are never asserted (see the benchmarks for numbers).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import require_user_manager_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
VARIANTS = ["--variants", "stdlib-bare,stdlib-lib,supervise+stdlib-bare,demo-on-demand"]


def test_first_request_prints_bare_beside_library() -> None:
    require_user_manager_sandbox()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "first_request.py"), "--rounds", "1", *VARIANTS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("first request after an idle exit")
    rows = {line.split()[0]: line for line in lines[3:]}
    assert set(rows) == {"stdlib-bare", "stdlib-lib", "supervise+stdlib-bare", "demo-on-demand"}
    assert "vs stdlib-bare" in rows["stdlib-lib"]
    assert "vs stdlib-bare" in rows["demo-on-demand"]


def test_idle_check_prints_tcp_and_unix_costs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "idle_check.py"), "--calls", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "tcp: sock_diag" in result.stdout
    assert "unix: sock_diag" in result.stdout


def test_supervise_start_prints_every_variant() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "supervise_start.py"), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("exec to the child's exec")
    names = [line.rsplit(maxsplit=4)[0] for line in lines[2:]]
    supervised = ["supervise (script)", "supervise (-m)", "supervise --trust-pid1"]
    assert names == ["sh", "python", *supervised]
