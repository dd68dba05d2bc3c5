"""benchmarks/restart.py --plot writes a PNG (matplotlib: the bench extra, in the test extra)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).parents[2]
ARGS = ["--restarts", "2", "--steady", "0.5", "--interval", "0.5", "--scenarios", "supervise"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_a_png_of_each_scenario(tmp_path: Path) -> None:
    require(importlib.util.find_spec("matplotlib") is not None, "matplotlib is not installed")
    png = tmp_path / "latency.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "restart.py"), *ARGS, "--plot", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"latency over time drawn in {png}" in result.stdout
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000  # dots and axes, not an empty canvas
