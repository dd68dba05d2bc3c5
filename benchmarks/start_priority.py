"""Does a starting Python process slow a loaded server down? Nice 0, 10, 19, SCHED_IDLE.

What ``--start-priority`` chooses between, measured without supervise or the handoff: the test
app (tests/support/restart_app.py) serves ``--clients`` closed-loop clients on loopback (a new
connection per request). Every ``--gap`` seconds one mode spawns a Python interpreter that
imports what a new generation imports (``socket_activation.restart.handoff`` and
``http.server``) and exits, at one of these priorities (modes interleaved, ``--rounds`` each):

- ``none``: nothing is spawned (the baseline);
- ``nice0`` / ``nice10`` / ``nice19``: at that nice value (``setpriority`` right after the spawn);
- ``idle``: at ``SCHED_IDLE`` (``sched_setscheduler`` right after the spawn).

The table gives, for the requests begun in the ``--window`` seconds after each spawn, their
rate and latency percentiles. Run: ``.venv/bin/python benchmarks/start_priority.py``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.load import Load  # noqa: E402

APP = ROOT / "tests" / "support" / "restart_app.py"
MODES = ("none", "nice0", "nice10", "nice19", "idle")
STARTUP = "import socket_activation.restart.handoff, http.server"


def spawn(mode: str, env: dict[str, str]) -> int | None:
    if mode == "none":
        return None
    argv = [sys.executable, "-c", STARTUP]
    pid = os.posix_spawn(argv[0], argv, env)
    if mode == "idle":
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.setpriority(os.PRIO_PROCESS, pid, int(mode.removeprefix("nice")))
    return pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gap", type=float, default=0.35, help="seconds between spawns")
    parser.add_argument("--window", type=float, default=0.15, help="seconds measured per spawn")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 100 or not 1 <= args.clients <= 32:
        parser.error("--rounds must be 1..100 and --clients 1..32")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    server = subprocess.Popen(
        [sys.executable, str(APP), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    marks: dict[str, list[float]] = {m: [] for m in MODES}
    try:
        deadline = time.monotonic() + 20
        while Load(("127.0.0.1", port), clients=1).one(b"GET / HTTP/1.0\r\n\r\n").outcome != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError("the test app never answered")
            time.sleep(0.05)
        with Load(("127.0.0.1", port), clients=args.clients) as load:
            time.sleep(1.0)
            for _ in range(args.rounds):
                for mode in MODES:
                    began = time.monotonic()
                    marks[mode].append(began)
                    pid = spawn(mode, env)
                    if pid is not None:
                        os.waitpid(pid, 0)
                    time.sleep(max(0.0, args.gap - (time.monotonic() - began)))
    finally:
        server.terminate()
        server.wait(10)
    samples = load.samples
    print(
        f"{args.clients} clients, one connection per request; a Python start-up spawned every "
        f"{args.gap:g} s, {args.rounds} per mode; requests begun within {args.window:g} s of "
        f"a spawn; {os.cpu_count()} CPUs, Linux {os.uname().release}"
    )
    print(f"{'mode':8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'failed':>6}")
    for mode in MODES:
        inside = [s for s in samples if any(t <= s.start < t + args.window for t in marks[mode])]
        lat = sorted(s.latency * 1000 for s in inside)
        failed = sum(1 for s in inside if s.outcome != "ok")
        rate = len(inside) / (args.window * len(marks[mode]))
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        p50, worst = lat[len(lat) // 2], lat[-1]
        print(f"{mode:8} {rate:7.0f} {p50:7.2f} {p99:7.2f} {worst:7.2f} {failed:6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
