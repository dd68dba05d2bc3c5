"""``restart_cpu.py --after-signal``: who held the serving CPUs, bucket by bucket, right after
each restart signal, beside the same buckets one interval earlier (in the quiet window).

:func:`after_signal` cuts the ``count`` buckets of ``width`` seconds that start ``offset``
seconds after each signal and adds up, over all restarts, the CPU time of every owner
(:func:`restart_cpu.owner`) and the requests answered in each; the reference is the same
buckets ``interval`` seconds earlier. Per restart, in ms: what a 1 ms bucket loses shows as
idle or as another owner's time (the first milliseconds of an upgrade, its handover).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Bucket = dict[str, float]  # owner -> CPU seconds, plus "answered"


def after_signal(
    result: dict[str, Any],
    spans: Sequence[Any],
    cpus: set[int],
    owner: Callable[[Any, float], str],
    *,
    width: float,
    count: int,
    offset: float,
    interval: float,
) -> tuple[list[Bucket], list[Bucket]]:
    """(after each signal, one interval earlier): per bucket, CPU seconds by owner and
    ``answered``, summed over all restarts. *owner* names a span's owner at a moment."""
    t0: float = result["t0"]
    signals = [t0 + s for s in result["restart_at"]]
    answered = sorted(t0 + s for s, _ms, outcome, _pid in result["series"] if outcome == "ok")

    def sweep(shift: float) -> list[Bucket]:
        buckets: list[Bucket] = [defaultdict(float) for _ in range(count)]
        starts = [s + shift for s in signals]
        for start in starts:
            for b in range(count):
                a, e = start + b * width, start + (b + 1) * width
                got = bisect.bisect_left(answered, e) - bisect.bisect_left(answered, a)
                buckets[b]["answered"] += got
        ordered = sorted(starts)
        for span in spans:
            if span.cpu not in cpus:
                continue
            # the windows this span can touch: those starting before it ends
            first = max(0, bisect.bisect_left(ordered, span.start - count * width))
            for start in ordered[first : bisect.bisect_right(ordered, span.end)]:
                for b in range(count):
                    lo = max(start + b * width, span.start)
                    hi = min(start + (b + 1) * width, span.end)
                    if hi > lo:
                        buckets[b][owner(span, (lo + hi) / 2)] += hi - lo
        return buckets

    return sweep(offset), sweep(offset - interval)


def render(
    name: str,
    after: list[Bucket],
    before: list[Bucket],
    *,
    restarts: int,
    width: float,
    offset: float,
) -> str:
    """The buckets as a table: answers then, answers one interval earlier, and for each owner
    its ms per restart then / earlier."""
    owners = sorted(
        {k for b in after + before for k in b if k != "answered"},
        key=lambda k: -sum(b.get(k, 0.0) for b in after),
    )
    n = max(1, restarts)
    head = f"{'ms after':>9} {'answered':>9} {'earlier':>8}  " + "  ".join(
        f"{k[:18]:>18}" for k in owners
    )
    lines = [f"{name}: the serving CPUs after each restart signal, ms per restart (then/earlier)"]
    lines.append(head)
    for b, (now, then) in enumerate(zip(after, before, strict=True)):
        at = 1000 * (offset + b * width)
        cells = "  ".join(
            f"{1000 * now.get(k, 0.0) / n:>8.2f}/{1000 * then.get(k, 0.0) / n:<9.2f}"
            for k in owners
        )
        lines.append(f"{at:>9.0f} {now['answered']:>9.0f} {then['answered']:>8.0f}  {cells}")
    return "\n".join(lines)
