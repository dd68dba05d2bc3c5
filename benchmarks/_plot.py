"""``benchmarks/restart.py --plot FILE.png``: each scenario's request latency over time.

One panel per scenario, one shared time axis: every request is a dot at its start time and
latency (log scale), failed requests are red crosses along the top, and each restart is a
dashed vertical line. The stalls of ``systemctl restart`` and of a gunicorn HUP, and the flat
line of supervise, show at a glance. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["plot"]

_FAILED_COLOR = "#d62728"
_OK_COLOR = "#1f77b4"
_RESTART_COLOR = "#555555"


def _rolling_p99(
    points: list[tuple[float, float]], width: float = 0.1
) -> list[tuple[float, float]]:
    """(window start, p99 latency) for consecutive windows of *width* seconds; NaN (a gap in
    the line) for a window in which no request succeeded."""
    buckets: dict[int, list[float]] = {}
    for t, ms in points:
        buckets.setdefault(int(t / width), []).append(ms)
    out = []
    for index in range(max(buckets, default=-1) + 1):
        values = sorted(buckets.get(index, []))
        p99 = values[min(len(values) - 1, int(0.99 * len(values)))] if values else math.nan
        out.append((index * width, p99))
    return out


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    """Write the PNG; *results* are run_scenario() results that carry a ``series``."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    ran = [r for r in results if "series" in r]
    if not ran:
        raise ValueError("no scenario ran: nothing to plot")
    fig, axes = plt.subplots(len(ran), 1, figsize=(10, 1.9 * len(ran) + 0.9), squeeze=False)
    top = max(max((p[1] for p in r["series"]), default=1.0) for r in ran) * 1.6
    for ax, result in zip(axes[:, 0], ran, strict=True):
        series = result["series"]
        ok = [(t, ms) for t, ms, outcome, _pid in series if outcome == "ok"]
        failed = [t for t, _ms, outcome, _pid in series if outcome != "ok"]
        ax.scatter([t for t, _ in ok], [ms for _, ms in ok], s=2, color=_OK_COLOR, lw=0)
        windows = _rolling_p99(ok)
        ax.step([t for t, _ in windows], [v for _, v in windows], where="post",
                color="black", lw=0.9, label="p99 per 100 ms")  # fmt: skip
        if failed:
            ax.scatter(failed, [top / 1.3] * len(failed), s=18, color=_FAILED_COLOR,
                       marker="x", label=f"{len(failed)} failed")  # fmt: skip
        ax.legend(loc="upper right", fontsize=8, frameon=False, ncols=2)
        for moment in result["restart_at"]:
            ax.axvline(moment, color=_RESTART_COLOR, lw=0.6, ls="--", alpha=0.6)
        ax.axvspan(0, result["steady_seconds"], color="#2ca02c", alpha=0.06)
        ax.set_xlim(0, max(result["t_end"], 1.0))
        ax.set_yscale("log")
        ax.set_ylim(0.1, top)
        during = result["during"]
        ax.set_title(
            f"{result['name']}: p99 {during['p99_ms']:.1f} ms, max {during['max_ms']:.0f} ms, "
            f"{during['failures']} failed during restarts",
            fontsize=9,
            loc="left",
        )
        ax.set_ylabel("latency ms", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, which="major", axis="y", alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since the load started (green: steady; dashed: a restart)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
