"""``restart.py --phases``: where in a restart the slow requests are.

For every request begun within ``span`` seconds after a restart signal, its 50 ms bucket
(time since that signal); a request is slow when it took more than twice the steady p99. The
buckets show which phase costs: the new generation's start-up (right after the signal), its
``READY=1`` and the old one's exit (the handover), or nothing (noise, spread evenly).
"""

from __future__ import annotations

from typing import Any

BUCKET = 0.05


def phases(result: dict[str, Any], span: float) -> str:
    """The histogram of one scenario's run, as text."""
    starts: list[float] = result["restart_at"]
    limit = 2 * result["steady"]["p99_ms"]
    total: dict[int, int] = {}
    slow: dict[int, int] = {}
    for t, latency_ms, _outcome, _pid in result["series"]:
        before = [s for s in starts if s <= t]
        if not before or t - before[-1] >= span:
            continue
        bucket = int((t - before[-1]) / BUCKET)
        total[bucket] = total.get(bucket, 0) + 1
        slow[bucket] = slow.get(bucket, 0) + (latency_ms > limit)
    lines = [
        f"{result['name']}: requests slower than {limit:.2f} ms (2x steady p99) by time since "
        f"the restart signal, {len(starts)} restarts",
        f"{'ms after':>10}  {'requests':>8}  {'slow':>5}  {'slow %':>6}",
    ]
    most = max(slow.values(), default=0) or 1
    for bucket in sorted(total):
        n, k = total[bucket], slow.get(bucket, 0)
        low = int(bucket * BUCKET * 1000)
        bar = "#" * (k * 40 // most)
        lines.append(f"{low:>4}-{low + 50:<5}  {n:>8}  {k:>5}  {100 * k / n:>5.1f}%  {bar}")
    return "\n".join(lines)
