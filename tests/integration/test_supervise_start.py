"""supervise ends when its first generation never becomes ready, instead of idling forever."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("command", "reason", "code"),
    [
        (["sleep", "30"], r"sent no READY=1 within 0.5 s", 1),
        (["sh", "-c", "exit 3"], r"exited with status 3", 3),
    ],
)
def test_a_first_generation_that_never_gets_ready_ends_supervise(
    command: list[str], reason: str, code: int
) -> None:
    """Nothing serves and nothing will: supervise exits with the reason (it used to wait on
    with no child at all after a first generation timed out)."""
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "socket_activation",
            "supervise",
            "--listen",
            "127.0.0.1:0",
            "--ready-timeout",
            "0.5",
            "--",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert time.monotonic() - started < 20
    assert reason in done.stderr
    assert "generation 1 (pid " in done.stderr
