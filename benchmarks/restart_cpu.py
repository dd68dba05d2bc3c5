"""Where does the serving CPUs' time go during a restart, beside the quiet windows between?

``restart.py`` measures throughput during restarts against the quiet windows of the same run;
this says what took the difference. It runs one ``restart.py`` scenario (``--interleave``,
optionally ``--spare-cpus``) under ``perf record -a -e sched:sched_switch -k CLOCK_MONOTONIC``:
every switch of every CPU, so the time each task held a CPU is exact, not sampled. For the
serving CPUs (all CPUs, or those outside ``--spare-cpus``) it adds up, per kind of window
(quiet, restart), the CPU milliseconds per second of window taken by:

- ``load``: the benchmark's client threads (the process that ran the scenario);
- ``generation serving``: a generation between its first and its last answer;
- ``generation starting``: a generation before its first answer (its start-up);
- ``generation leaving``: a generation after its last answer (its drain and exit);
- ``launcher``: the process the scenario started (``supervise``; for the handoff the first
  generation, counted as a generation);
- any other task by its name (kernel threads, ``perf``, the start-up-only twin...);
- ``idle``: what is left.

Below the table: requests answered per second, and CPU microseconds per answered request taken
by the load and by the serving generations. A restart that costs the serving CPUs nothing shows
the same rows in both columns; one that slows the server's requests shows a higher cost per
request; one that takes the CPU for something else shows that row.

``--keep DIR`` keeps ``perf.data`` and the result; ``--again DIR`` analyses them again. Needs
``perf`` and root.

    .venv/bin/python benchmarks/restart_cpu.py [--scenario NAME] [--spare-cpus LIST]

NAME: supervise, handoff (the default), handoff-noretire or startup-only.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
# "python 1234/1235 [001] 12345.678901: sched:sched_switch: prev_comm=..."
_HEAD = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s*(.*)$")
_FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True, slots=True)
class Span:
    """Thread ``tid`` of process ``pid`` (named ``comm``) held CPU ``cpu`` from start to end."""

    cpu: int
    pid: int
    tid: int
    comm: str
    start: float
    end: float


def parse_spans(script: str) -> list[Span]:
    """The run spans in ``perf script -F comm,pid,tid,cpu,time,event,trace`` text of
    ``sched_switch`` events. A span ends at its task's switch-out, whose header names the
    task's process; the first span of each CPU (its start unseen) is dropped."""
    began: dict[int, float] = {}  # cpu -> when the task now on it came in
    spans: list[Span] = []
    for line in script.splitlines():
        head = _HEAD.match(line)
        if not head or head[6] != "sched_switch":
            continue
        pid, tid, cpu, time = int(head[2]), int(head[3]), int(head[4]), float(head[5])
        fields = dict(_FIELD.findall(head[7]))
        since = began.get(cpu)
        if since is not None and tid == int(fields.get("prev_pid", tid)):
            comm: str = fields.get("prev_comm") or head[1]
            spans.append(Span(cpu, pid if tid else 0, tid, comm, since, time))
        began[cpu] = time
    return spans


def read_spans(perf_data: Path) -> list[Span]:
    script = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "comm,pid,tid,cpu,time,event,trace"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_spans(script)


def windows(result: dict[str, Any], interval: float) -> dict[str, list[tuple[float, float]]]:
    """The quiet window before each restart and the restart window, on perf's clock."""
    t0: float = result["t0"]
    starts = [t0 + s for s in result["restart_at"]]
    return {
        "quiet": [(s - interval, s) for s in starts],
        "restart": [(s, s + interval) for s in starts],
    }


def _lifetimes(result: dict[str, Any]) -> dict[int, tuple[float, float]]:
    """Each generation's first and last answer (perf's clock)."""
    t0: float = result["t0"]
    seen: dict[int, tuple[float, float]] = {}
    for start, _ms, outcome, pid in result["series"]:
        if pid and outcome == "ok":
            first, _ = seen.get(pid, (t0 + start, 0.0))
            seen[pid] = (first, t0 + start)
    return seen


def owner(
    span: Span, at: float, result: dict[str, Any], lives: dict[int, tuple[float, float]]
) -> str:
    if span.pid == 0:
        return "idle"
    if span.pid == result.get("load_pid"):
        return "load"
    if span.pid in lives:
        first, last = lives[span.pid]
        if at < first:
            return "generation starting"
        return "generation serving" if at <= last else "generation leaving"
    if span.pid == result.get("launcher_pid"):
        return "launcher"
    return span.comm.split("/")[0] or "?"  # kworker/0:1, ksoftirqd/1: by kind


def budget(
    result: dict[str, Any], spans: list[Span], cpus: set[int], interval: float
) -> dict[str, dict[str, float]]:
    """CPU ms per second of window on *cpus*, by owner, for each kind of window; plus
    ``answered/s`` and the seconds each kind covered (``seconds``)."""
    lives = _lifetimes(result)
    t0: float = result["t0"]
    answered = sorted(t0 + s for s, _ms, outcome, _pid in result["series"] if outcome == "ok")
    marked = sorted((a, b, kind) for kind, ws in windows(result, interval).items() for a, b in ws)
    starts = [a for a, _b, _kind in marked]
    used: dict[str, dict[str, float]] = {kind: defaultdict(float) for _a, _b, kind in marked}
    for span in spans:
        if span.cpu not in cpus:
            continue
        index = max(0, bisect.bisect_right(starts, span.start) - 1)
        while index < len(marked) and marked[index][0] < span.end:
            a, b, kind = marked[index]
            lo, hi = max(a, span.start), min(b, span.end)
            if hi > lo:
                used[kind][owner(span, (lo + hi) / 2, result, lives)] += hi - lo
            index += 1
    table: dict[str, dict[str, float]] = {}
    for kind, counted in used.items():
        ws = [(a, b) for a, b, k in marked if k == kind]
        seconds = sum(b - a for a, b in ws)
        counted["idle"] = len(cpus) * seconds - sum(v for k, v in counted.items() if k != "idle")
        count = sum(
            bisect.bisect_left(answered, b) - bisect.bisect_left(answered, a) for a, b in ws
        )
        row = {k: 1000 * v / seconds for k, v in counted.items()}
        row["answered/s"] = count / seconds
        row["seconds"] = seconds
        table[kind] = row
    return table


def render(name: str, table: dict[str, dict[str, float]], cpus: set[int]) -> str:
    quiet, restart = table["quiet"], table["restart"]
    rows = sorted(
        (k for k in {*quiet, *restart} if k not in ("answered/s", "seconds")),
        key=lambda k: -max(quiet.get(k, 0.0), restart.get(k, 0.0)),
    )
    head = f"{name}: CPU ms per second on CPUs {','.join(map(str, sorted(cpus)))}"
    lines = [head, f"{'':<30} {'quiet':>9} {'restart':>9} {'change':>9}"]
    for key in rows:
        q, r = quiet.get(key, 0.0), restart.get(key, 0.0)
        if max(q, r) < 0.5:
            continue
        lines.append(f"{key:<30} {q:>9.1f} {r:>9.1f} {r - q:>+9.1f}")
    qa, ra = quiet["answered/s"], restart["answered/s"]
    lines.append(f"{'answered/s':<30} {qa:>9.0f} {ra:>9.0f} {ra / qa if qa else 0:>8.3f}x")
    for who in ("load", "generation serving"):
        qc = 1000 * quiet.get(who, 0.0) / qa if qa else 0.0
        rc = 1000 * restart.get(who, 0.0) / ra if ra else 0.0
        lines.append(f"{who + ' µs/answer':<30} {qc:>9.1f} {rc:>9.1f} {rc - qc:>+9.1f}")
    lines.append(f"(windows: {quiet['seconds']:.1f} s quiet, {restart['seconds']:.1f} s restart)")
    return "\n".join(lines)


def child_command(args: argparse.Namespace, out: Path) -> list[str]:
    spare = ["--spare-cpus", args.spare_cpus] if args.spare_cpus else []
    return [
        PYTHON, str(HERE / "restart_perf.py"), "--child",
        "--scenario", args.scenario, "--out", str(out), *spare,
    ]  # fmt: skip


def serving_cpus(spare: str | None) -> set[int]:
    sys.path.insert(0, str(HERE.parent / "src"))
    from socket_activation.restart.affinity import parse_cpus

    mine = set(os.sched_getaffinity(0))
    return mine - parse_cpus(spare) if spare else mine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--scenario",
        default="handoff",
        choices=("supervise", "handoff", "handoff-noretire", "startup-only"),
    )
    parser.add_argument("--spare-cpus", metavar="LIST", help="as restart.py --spare-cpus")
    parser.add_argument("--keep", type=Path, help="keep perf.data and result.json in this dir")
    parser.add_argument("--again", type=Path, help="analyse a --keep dir again, no new run")
    parser.add_argument(
        "--after-signal",
        metavar="MS,COUNT[,FROM]",
        help="also COUNT buckets of MS ms from FROM ms after each restart signal (e.g. 1,10 or "
        "10,10,320), beside the same buckets one interval earlier",
    )
    args = parser.parse_args(argv)
    cpus = serving_cpus(args.spare_cpus)
    interval = 0.6  # restart.py's default --interval, which the child runs with
    buckets = _buckets(parser, args.after_signal)
    if args.again:
        result = json.loads((args.again / "result.json").read_text())
        spans = read_spans(args.again / "perf.data")
        print(render(result["name"], budget(result, spans, cpus, interval), cpus))
        _print_after_signal(result, spans, cpus, buckets, interval)
        return 0
    if shutil.which("perf") is None:
        print("restart_cpu.py needs perf (Debian: linux-perf)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sa-cpu-") as tmp:
        data, out = Path(tmp) / "perf.data", Path(tmp) / "result.json"
        record = [
            "perf", "record", "-a", "-k", "CLOCK_MONOTONIC", "-e", "sched:sched_switch",
            "-o", str(data), "--", *child_command(args, out),
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
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(data, args.keep / "perf.data")
            shutil.copy(out, args.keep / "result.json")
        print()
        spans = read_spans(data)
        print(render(result["name"], budget(result, spans, cpus, interval), cpus))
        _print_after_signal(result, spans, cpus, buckets, interval)
    return 0


def _buckets(parser: argparse.ArgumentParser, text: str | None) -> tuple[float, int, float] | None:
    """``--after-signal MS,COUNT[,FROM]`` as (width s, count, offset s); the parser's error
    naming the option when it is not that."""
    if text is None:
        return None
    try:
        parts = [float(p) for p in text.split(",")]
        if len(parts) not in (2, 3) or parts[0] <= 0 or parts[1] < 1 or parts[1] != int(parts[1]):
            raise ValueError
    except ValueError:
        parser.error(f"--after-signal: expected MS,COUNT[,FROM] (e.g. 1,10), got {text!r}")
    offset = parts[2] if len(parts) == 3 else 0.0
    return parts[0] / 1000, int(parts[1]), offset / 1000


def _print_after_signal(
    result: dict[str, Any],
    spans: list[Span],
    cpus: set[int],
    buckets: tuple[float, int, float] | None,
    interval: float,
) -> None:
    if buckets is None:
        return
    from _after_signal import after_signal
    from _after_signal import render as render_buckets

    width, count, offset = buckets
    lives = _lifetimes(result)
    then, earlier = after_signal(
        result,
        spans,
        cpus,
        lambda span, at: owner(span, at, result, lives),
        width=width,
        count=count,
        offset=offset,
        interval=interval,
    )
    restarts = len(result["restart_at"])
    print()
    text = render_buckets(
        result["name"], then, earlier, restarts=restarts, width=width, offset=offset
    )
    print(text)


if __name__ == "__main__":
    sys.exit(main())
