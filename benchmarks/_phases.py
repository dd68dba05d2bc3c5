"""``restart.py --phases``: where in a restart the slow requests are.

For every request begun within ``span`` seconds after a restart signal, its 50 ms bucket
(time since that signal); a request is slow when it took more than twice the steady p99. The
buckets show which phase costs: the new generation's start-up (right after the signal), its
``READY=1`` and the old one's exit (the handover), or nothing (noise, spread evenly).
:func:`slowest` names the slowest requests begun in a restart window: when, after which
signal, and whether the process that answered was the one serving before it or a new one.
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


def slowest(result: dict[str, Any], span: float, count: int = 5) -> str:
    """The *count* slowest requests begun within *span* s after a restart signal, as text: the
    latency, the ms since that signal (and which signal), the answering pid, ``old`` if that
    pid had answered before the signal, ``new`` if not (a failed request has no pid)."""
    starts: list[float] = result["restart_at"]
    first: dict[int, float] = {}
    for t, _latency_ms, outcome, pid in result["series"]:
        if pid and outcome == "ok" and pid not in first:
            first[pid] = t
    found: list[tuple[float, float, int, int, str]] = []
    for t, latency_ms, outcome, pid in result["series"]:
        index = sum(1 for s in starts if s <= t) - 1
        if index < 0 or t - starts[index] >= span:
            continue
        role = "old" if pid and first.get(pid, t) < starts[index] else ("new" if pid else outcome)
        found.append((latency_ms, t - starts[index], index + 1, pid or 0, role))
    found.sort(reverse=True)
    lines = [f"{result['name']}: the {count} slowest requests begun in restart windows"]
    for latency_ms, after, which, pid, role in found[:count]:
        lines.append(
            f"  {latency_ms:7.2f} ms  begun {1000 * after:6.1f} ms after signal {which:>3}"
            f"  answered by {pid} ({role})"
        )
    return "\n".join(lines)
