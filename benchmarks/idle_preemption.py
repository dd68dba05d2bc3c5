"""How fast does a woken task get a CPU that a busy ``SCHED_IDLE`` task holds?

The question behind ``--start-priority idle``: a generation starting at ``SCHED_IDLE`` should
give the CPU back the moment the serving one wakes. Two processes play ping-pong over pipes
(``--rounds`` round trips, each after a 0.5 ms sleep) while one busy loop per CPU, pinned,
runs at the given class; the table gives the round-trip percentiles per class:

- ``none``: no busy loop (the CPUs idle);
- ``idle``: ``SCHED_IDLE`` loops (what a starting generation is);
- ``nice19`` / ``nice0``: ``SCHED_OTHER`` loops at that nice value.

    .venv/bin/python benchmarks/idle_preemption.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

MODES = ("none", "idle", "nice19", "nice0", "idle", "none")


def hog(cpu: int, mode: str) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.sched_setaffinity(0, {cpu})
            if mode == "idle":
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            elif mode.startswith("nice"):
                os.setpriority(os.PRIO_PROCESS, 0, int(mode[4:]))
            deadline = time.monotonic() + 120  # bounded, whatever happens to the parent
            while time.monotonic() < deadline:
                pass
        finally:
            os._exit(0)
    return pid


def round_trips(rounds: int) -> list[float]:
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ping_w)
        while os.read(ping_r, 1):
            os.write(pong_w, b"x")
        os._exit(0)
    out = []
    for _ in range(rounds):
        time.sleep(0.0005)
        began = time.perf_counter()
        os.write(ping_w, b"x")
        os.read(pong_r, 1)
        out.append((time.perf_counter() - began) * 1000)
    os.close(ping_w)
    os.waitpid(pid, 0)
    for fd in (ping_r, pong_r, pong_w):
        os.close(fd)
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args(argv)
    if not hasattr(os, "SCHED_IDLE"):
        print("SCHED_IDLE is Linux only", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    print(f"{len(cpus)} CPUs, {args.rounds} round trips per row; ms")
    print(f"{'busy loops':>10} {'p50':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} {'max':>7}")
    for mode in MODES:
        hogs = [] if mode == "none" else [hog(cpu, mode) for cpu in cpus]
        try:
            time.sleep(0.1)
            rt = round_trips(args.rounds)
        finally:
            for pid in hogs:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        n = len(rt)
        cells = [rt[n // 2], rt[n * 9 // 10], rt[n * 99 // 100], rt[n * 999 // 1000], rt[-1]]
        print(f"{mode:>10} " + " ".join(f"{c:7.3f}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
