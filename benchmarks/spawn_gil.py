"""How long do a process's other threads stop while it spawns a new generation?

The handoff spawns from the process that serves. A thread that wakes every 0.1 ms (standing in
for the threads that answer requests) runs while the main thread calls ``spawn_with_sockets``
``--spawns`` times, with one listening socket and the ``LISTEN_PID`` shim, as the handoff does;
the table gives that thread's longest pause during each spawn, for ``os.posix_spawnp`` (which
keeps the GIL until the child has called ``exec``) and for ``release_gil=True`` (libc's through
ctypes, which lets go of it). Run: ``.venv/bin/python benchmarks/spawn_gil.py``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from socket_activation.restart.spawn import spawn_with_sockets  # noqa: E402


def pauses(spawns: int, release_gil: bool) -> tuple[list[float], list[float]]:
    """(the ticking thread's longest pause per spawn, each spawn call's duration), in ms."""
    gaps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.0001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    longest, durations = [], []
    try:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            for _ in range(spawns):
                time.sleep(0.05)
                first = len(gaps)
                began = time.perf_counter()
                pid = spawn_with_sockets(
                    [sys.executable, "-S", "-c", "pass"], [listener.fileno()], ["web"],
                    dict(os.environ), release_gil=release_gil,
                )  # fmt: skip
                durations.append((time.perf_counter() - began) * 1000)
                time.sleep(0.005)
                longest.append(max(gaps[first:]) * 1000)
                os.waitpid(pid, 0)
    finally:
        stop.set()
        ticker.join()
    return longest, durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spawns", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="each way, interleaved")
    args = parser.parse_args(argv)
    results: dict[bool, tuple[list[float], list[float]]] = {False: ([], []), True: ([], [])}
    for _ in range(args.rounds):
        for release in (False, True):
            longest, durations = pauses(args.spawns, release)
            results[release][0].extend(longest)
            results[release][1].extend(durations)
    print(f"{args.rounds * args.spawns} spawns each; ms")
    print(f"{'spawn':<28} {'pause median':>12} {'p90':>6} {'max':>6} {'spawn call med':>14}")
    labels = {False: "os.posix_spawnp (GIL held)", True: "release_gil=True (ctypes)"}
    for release, label in labels.items():
        longest, durations = results[release]
        longest.sort()
        cells = (statistics.median(longest), longest[len(longest) * 9 // 10], longest[-1])
        print(
            f"{label:<28} {cells[0]:>12.2f} {cells[1]:>6.2f} {cells[2]:>6.2f} "
            f"{statistics.median(durations):>14.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
