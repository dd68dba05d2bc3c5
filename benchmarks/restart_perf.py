"""What is the machine doing while a request is slow during a restart? ``perf`` attributes it.

``restart.py`` shows *that* requests slow down while a new generation starts; this shows what
ran meanwhile. It runs one ``restart.py`` scenario (``--interleave``) under ``perf record -a -g
-k CLOCK_MONOTONIC`` (CPU samples on every CPU, clocked like ``time.monotonic()``), then, for
every request slower than ``--slow`` ms begun in a restart window, takes the CPU samples that
fall within it and says whose they are:

- ``answering gen``: the generation that answered that request;
- ``other gen``: another generation (the one starting, or the one leaving);
- ``load``: the benchmark's own client threads; ``cpu idle``; kernel threads by name;

and where: ``user`` space, or the first of a few kernel functions found on the stack (page
faults, file mapping, ``exit_mmap``, softirqs, ``futex``...). The "baseline" column does the
same for a sample of fast requests outside restart windows. Needs ``perf`` and root
(``perf_event_paranoid``).

    sudo .venv/bin/python benchmarks/restart_perf.py [--scenario NAME]

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
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
KERNEL_PLACES = (
    "exc_page_fault",
    "filemap_",
    "exit_mmap",
    "do_execveat_common",
    "copy_process",
    "handle_softirqs",
    "tcp_v4_rcv",
    "futex",
    "__schedule",
    "mmap_region",
)
_HEAD = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):")


class CpuSample:
    __slots__ = ("comm", "cpu", "frames", "pid", "time")

    def __init__(self, time: float, cpu: int, pid: int, comm: str) -> None:
        self.time, self.cpu, self.pid, self.comm = time, cpu, pid, comm
        self.frames: list[str] = []


def child(args: argparse.Namespace) -> int:
    """Inside ``perf record``: run the scenario, write its result with the series."""
    sys.path.insert(0, str(HERE))
    import restart

    spare = ["--spare-cpus", args.spare_cpus] if args.spare_cpus else []
    options = restart.parse_args(["--interleave", "--scenarios", args.scenario, *spare])
    with restart.scratch() as tmp:
        result = restart.run_scenario(args.scenario, options, tmp)
    print(restart.render([result], options), flush=True)
    Path(args.out).write_text(json.dumps(result))
    return 0


def read_samples(perf_data: Path) -> list[CpuSample]:
    script = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "comm,pid,tid,cpu,time,ip,sym"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    samples: list[CpuSample] = []
    current: CpuSample | None = None
    for line in script.splitlines():
        head = _HEAD.match(line)
        if head:
            current = CpuSample(float(head[5]), int(head[4]), int(head[2]), head[1])
            samples.append(current)
        elif current is not None and line.strip():
            parts = line.split(None, 1)
            current.frames.append(parts[1] if len(parts) > 1 else parts[0])
    samples.sort(key=lambda s: s.time)
    return samples


def place(sample: CpuSample) -> str:
    for frame in sample.frames:
        for name in KERNEL_PLACES:
            if name in frame:
                return name
    return "user"


def attribute(result: dict[str, Any], samples: list[CpuSample], slow_ms: float) -> str:
    t0: float = result["t0"]
    starts = [t0 + s for s in result["restart_at"]]
    generations = {pid for _t, _ms, _outcome, pid in result["series"] if pid}
    # the load's client threads run in the benchmark process: the busiest other python
    busiest = Counter(s.pid for s in samples if s.comm == "python" and s.pid not in generations)
    load_pid = busiest.most_common(1)[0][0] if busiest else -1
    times = [s.time for s in samples]

    def who(sample: CpuSample, answering: int) -> str:
        if sample.pid == 0:
            return "cpu idle"
        if sample.pid == answering:
            return f"answering gen: {place(sample)}"
        if sample.pid in generations:
            return f"other gen: {place(sample)}"
        if sample.pid == load_pid:
            return f"load: {place(sample)}"
        return f"{sample.comm.split('/')[0]}: {place(sample)}"

    slow: Counter[str] = Counter()
    base: Counter[str] = Counter()
    count = fast_seen = 0
    for start, latency, outcome, pid in result["series"]:
        began = t0 + start
        index = bisect.bisect_right(starts, began) - 1
        in_restart = index >= 0 and began - starts[index] < 0.6
        lo = bisect.bisect_left(times, began)
        if in_restart and latency > slow_ms and outcome == "ok":
            count += 1
            for sample in samples[lo : bisect.bisect_right(times, began + latency / 1000)]:
                slow[who(sample, pid)] += 1
        elif not in_restart and latency < 1.0 and outcome == "ok":
            fast_seen += 1
            if fast_seen % 150 == 0:  # a sample of fast requests, each over a 4 ms window
                for sample in samples[lo : bisect.bisect_right(times, began + 0.004)]:
                    base[who(sample, pid)] += 1
    total, base_total = sum(slow.values()) or 1, sum(base.values()) or 1
    lines = [
        f"{result['name']}: {count} requests slower than {slow_ms:g} ms in restart windows; "
        f"{sum(slow.values())} CPU samples fell within them ({sum(base.values())} baseline)",
        f"{'what ran':<34} {'slow requests':>13} {'baseline':>9}",
    ]
    for key, n in slow.most_common(14):
        lines.append(f"{key:<34} {100 * n / total:>12.1f}% {100 * base[key] / base_total:>8.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--scenario",
        default="handoff",
        choices=("supervise", "handoff", "handoff-noretire", "startup-only"),
    )
    parser.add_argument("--slow", type=float, default=4.0, help="ms (default 4)")
    parser.add_argument("--frequency", type=int, default=1999, help="perf samples/s per CPU")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spare-cpus", help=argparse.SUPPRESS)  # restart_cpu.py's child
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    if shutil.which("perf") is None:
        print("restart_perf.py needs perf (Debian: linux-perf)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sa-perf-") as tmp:
        data, out = Path(tmp) / "perf.data", Path(tmp) / "result.json"
        record = [
            "perf", "record", "-a", "-g", "-k", "CLOCK_MONOTONIC", "-F", str(args.frequency),
            "-o", str(data), "--", PYTHON, __file__, "--child",
            "--scenario", args.scenario, "--out", str(out),
        ]  # fmt: skip
        with open(Path(tmp) / "stderr", "w+") as err:
            done = subprocess.run(record, stderr=err, check=False)
            if done.returncode != 0 or not out.exists():
                err.seek(0)
                tail = "".join(err.readlines()[-15:])
                failed = f"perf record failed ({done.returncode}; needs root)"
                print(f"{failed}:\n{tail}", file=sys.stderr)
                return 1
        result = json.loads(out.read_text())
        print()
        print(attribute(result, read_samples(data), args.slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
