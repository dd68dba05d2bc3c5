"""During a slow request in a restart, was anyone ready to run but kept waiting for a CPU?

``restart_perf.py`` samples what ran on the CPUs; this follows the scheduler instead. It runs one
``restart.py`` scenario (``--interleave``) under ``perf record -a -e sched:sched_switch -e
sched:sched_waking -k CLOCK_MONOTONIC`` and rebuilds, per thread, when it was woken and when it
got a CPU. Two tables:

1. For each request slower than ``--slow`` ms begun in a restart window, and for a sample of
   fast requests outside them: how long the load's client threads or the answering
   generation's threads were *runnable but not running* within it (the union over those
   threads), and one thread's longest such wait. A union close to the latency: the scheduler
   kept a ready thread off the CPU; much smaller: the request waited on something else.
2. Every such wait over 2 ms, by what held the CPU the thread was queued on when it became
   ready: the starting generation, the serving or leaving one, the load, an idle CPU (a CPU
   that did not pick it up), a kernel thread; before and after the new generation's READY=1
   (its first answer). This is how the old process's exit after a handoff was found
   (``restart/retire.py``): ``--scenario handoff-noretire`` shows it. ``--scenario
   startup-only`` (the control: a start-up, no restart) never answers, so what it holds is
   counted under "something else", and everything counts as before READY.

``--keep DIR`` keeps ``perf.data`` and the result; ``--again DIR`` analyses them again.
Needs ``perf`` and root.

    .venv/bin/python benchmarks/restart_sched.py [--scenario NAME]

NAME: supervise, handoff (the default), handoff-noretire or startup-only.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
# "python 1234/1235 [001] 12345.678901: sched:sched_switch: prev_comm=..."
_HEAD = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s*(.*)$")
_FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True, slots=True)
class Wait:
    """A thread ready to run from ``woken`` until it got a CPU at ``ran``."""

    tid: int
    pid: int  # the thread's process (tids are reused: looked up at the time)
    woken: float
    ran: float
    cpu: int
    held_by: str  # the task that was on that CPU just before it ran
    holder: int  # the process on that CPU when the wait began (0: the CPU was idle)


# a thread "waiting" longer than this was lost track of (an exit, a reused tid), not starved
_UNTRACKED = 0.5


class _Processes:
    """Which process a thread id belonged to at a time (tids are reused within a run)."""

    def __init__(self) -> None:
        self.seen: dict[int, list[tuple[float, int]]] = defaultdict(list)

    def note(self, tid: int, pid: int, time: float) -> None:
        history = self.seen[tid]
        if not history or history[-1][1] != pid:
            history.append((time, pid))

    def at(self, tid: int, time: float) -> int:
        """The process of *tid*'s first event at or after *time*, else its last before."""
        history = self.seen.get(tid)
        if not tid or not history:
            return 0 if not tid else -1
        index = min(bisect.bisect_left(history, (time, -1)), len(history) - 1)
        if index > 0 and history[index][0] > time and history[index - 1][0] <= time:
            index -= 1
        return history[index][1]


def read_waits(perf_data: Path) -> tuple[list[Wait], dict[int, int]]:
    """Every runnable-to-running interval, and each thread's last process (for load's tids)."""
    script = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "comm,pid,tid,cpu,time,event,trace"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_waits(script)


def parse_waits(script: str) -> tuple[list[Wait], dict[int, int]]:
    """:func:`read_waits` from the text of ``perf script`` (those fields, in that order)."""
    tgid: dict[int, int] = {}
    processes = _Processes()
    on_cpu: dict[int, list[tuple[float, int]]] = defaultdict(list)  # cpu -> (time, tid in)
    pending: list[tuple[int, float, float, int, str]] = []
    ready: dict[int, float] = {}  # tid -> when it became runnable (woken or preempted)
    running: set[int] = set()
    for line in script.splitlines():
        head = _HEAD.match(line)
        if not head:
            continue
        pid, tid, cpu, time = int(head[2]), int(head[3]), int(head[4]), float(head[5])
        tgid[tid] = pid
        processes.note(tid, pid, time)
        fields = dict(_FIELD.findall(head[7]))
        if head[6] == "sched_waking":
            woken = int(fields["pid"])
            if woken not in running:
                ready.setdefault(woken, time)
        elif head[6] == "sched_switch":
            prev, nxt = int(fields["prev_pid"]), int(fields["next_pid"])
            if fields.get("prev_state", "S").startswith("R") and prev:
                ready[prev] = time  # preempted: still runnable
            else:
                ready.pop(prev, None)
            running.discard(prev)
            running.add(nxt)
            on_cpu[cpu].append((time, nxt))
            since = ready.pop(nxt, None)
            if since is not None and nxt and time - since < _UNTRACKED:
                held = "idle" if prev == 0 else f"{fields.get('prev_comm', '?')}:{prev}"
                pending.append((nxt, since, time, cpu, held))
    waits: list[Wait] = []
    for tid, since, ran, cpu, held in pending:
        timeline = on_cpu[cpu]
        index = bisect.bisect_right(timeline, (since, 1 << 30)) - 1
        holder_tid = timeline[index][1] if index >= 0 else 0
        holder = processes.at(holder_tid, since)
        waits.append(Wait(tid, processes.at(tid, ran), since, ran, cpu, held, holder))
    waits.sort(key=lambda w: w.ran)
    return waits, tgid


def _union(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def child_command(args: argparse.Namespace, out: Path) -> list[str]:
    return [
        PYTHON, str(HERE / "restart_perf.py"), "--child",
        "--scenario", args.scenario, "--out", str(out),
    ]  # fmt: skip


def analyse(result: dict[str, Any], waits: list[Wait], tgid: dict[int, int], slow: float) -> str:
    t0: float = result["t0"]
    starts = [t0 + s for s in result["restart_at"]]
    generations = {pid for _t, _ms, _outcome, pid in result["series"] if pid}
    busiest = Counter(w.pid for w in waits)
    load = next(
        (pid for pid, _n in busiest.most_common() if pid not in generations and pid != 0), -1
    )
    ran_at = [w.ran for w in waits]

    rows: dict[str, dict[str, Any]] = {}
    for kind in ("slow, restart", "fast, steady"):
        rows[kind] = {"n": 0, "latency": 0.0, "union": 0.0, "longest": []}
    fast_seen = 0
    for start, latency, outcome, pid in result["series"]:
        if outcome != "ok":
            continue
        began, ended = t0 + start, t0 + start + latency / 1000
        index = bisect.bisect_right(starts, began) - 1
        in_restart = index >= 0 and began - starts[index] < 0.6
        if in_restart and latency > slow:
            kind = "slow, restart"
        elif not in_restart and latency < 1.0:
            fast_seen += 1
            if fast_seen % 50:
                continue
            kind = "fast, steady"
        else:
            continue
        row = rows[kind]
        row["n"] += 1
        row["latency"] += latency
        watched = (pid, load)
        spans: list[tuple[float, float]] = []
        longest = 0.0
        # waits that overlap the request: got the CPU after it began, were woken before it ended
        for wait in waits[bisect.bisect_left(ran_at, began) :]:
            if wait.ran > ended + 1.0:
                break
            if wait.woken >= ended or wait.pid not in watched:
                continue
            a, b = max(wait.woken, began), min(wait.ran, ended)
            if b <= a:
                continue
            spans.append((a, b))
            longest = max(longest, (b - a) * 1000)
        row["union"] += _union(spans) * 1000
        row["longest"].append(longest)
    lines = [
        f"{result['name']}: time the load's and the answering generation's threads were "
        "runnable but off the CPU, within each request",
        "(union: any watched thread waiting; longest: one thread's longest wait, median/max)",
        f"{'requests':<16} {'n':>6} {'mean latency':>13} {'union of waits':>15} "
        f"{'longest wait':>15}",
    ]
    for kind, row in rows.items():
        n = row["n"] or 1
        ranked: list[float] = sorted(row["longest"]) or [0.0]
        lines.append(
            f"{kind:<16} {row['n']:>6} {row['latency'] / n:>10.2f} ms {row['union'] / n:>12.2f} ms"
            f" {ranked[len(ranked) // 2]:>6.2f}/{ranked[-1]:.2f} ms"
        )
    return "\n".join([*lines, "", holders(result, waits, load, generations)])


def holders(result: dict[str, Any], waits: list[Wait], load: int, generations: set[int]) -> str:
    """Waits over 2 ms of the load's and the generations' threads, by what held that CPU."""
    t0: float = result["t0"]
    starts = [t0 + s for s in result["restart_at"]]
    first: dict[int, float] = {}
    for start, _ms, _outcome, pid in result["series"]:
        if pid:
            first.setdefault(pid, t0 + start)
    table: Counter[tuple[str, str]] = Counter()
    outside = 0
    for wait in waits:
        if (wait.pid not in generations and wait.pid != load) or wait.ran - wait.woken <= 0.002:
            continue
        index = bisect.bisect_right(starts, wait.woken) - 1
        if index < 0 or wait.woken - starts[index] >= 0.6:
            outside += 1
            continue
        begun = starts[index]
        new = next((p for p, t in first.items() if begun <= t < begun + 0.6), None)
        ready = first.get(new, float("inf")) if new is not None else float("inf")
        if wait.holder == 0:
            who = "an idle CPU"
        elif wait.holder == new:
            who = "the starting generation"
        elif wait.holder in generations:
            who = "the serving / leaving generation"
        elif wait.holder == load:
            who = "the load's client threads"
        else:
            who = "something else (kernel threads...)"
        table[(who, "before" if wait.woken < ready else "after")] += 1
    lines = [
        f"waits over 2 ms in restart windows: {sum(table.values())} (outside them: {outside});",
        "the CPU the thread waited for was held by:",
        f"{'':<36} {'before READY':>12} {'after READY':>12}",
    ]
    for who in sorted(
        {w for w, _ in table}, key=lambda w: -table[(w, "before")] - table[(w, "after")]
    ):
        lines.append(f"{who:<36} {table[(who, 'before')]:>12} {table[(who, 'after')]:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--scenario",
        default="handoff",
        choices=("supervise", "handoff", "handoff-noretire", "startup-only"),
    )
    parser.add_argument("--slow", type=float, default=4.0, help="ms (default 4)")
    parser.add_argument("--keep", type=Path, help="keep perf.data and result.json in this dir")
    parser.add_argument("--again", type=Path, help="analyse a --keep dir again, no new run")
    args = parser.parse_args(argv)
    if args.again:
        result = json.loads((args.again / "result.json").read_text())
        print(analyse(result, *read_waits(args.again / "perf.data"), args.slow))
        return 0
    if shutil.which("perf") is None:
        print("restart_sched.py needs perf (Debian: linux-perf)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sa-sched-") as tmp:
        data, out = Path(tmp) / "perf.data", Path(tmp) / "result.json"
        record = [
            "perf", "record", "-a", "-k", "CLOCK_MONOTONIC", "-e", "sched:sched_switch",
            "-e", "sched:sched_waking", "-o", str(data), "--", *child_command(args, out),
        ]  # fmt: skip
        with open(Path(tmp) / "stderr", "w+") as err:
            done = subprocess.run(record, stderr=err, check=False)
            if done.returncode != 0 or not out.exists():
                err.seek(0)
                tail = "".join(err.readlines()[-15:])
                print(
                    f"perf record failed ({done.returncode}; needs root):\n{tail}", file=sys.stderr
                )
                return 1
        result = json.loads(out.read_text())
        waits, tgid = read_waits(data)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(data, args.keep / "perf.data")
            shutil.copy(out, args.keep / "result.json")
        print()
        print(analyse(result, waits, tgid, args.slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
