"""How long does ``socket-activation reload`` take to start and answer, on an idle machine?

``ExecReload=socket-activation reload`` runs the client on every reload, and ``systemctl
reload`` waits for it. This times the installed console script (and ``python -m
socket_activation``, and a bare ``python -c pass`` for scale) asking a pid that serves no reload
requests: the client's whole start, argument parsing and control-socket lookup, up to its error
message. Median and min of ``--runs`` interleaved runs. ``benchmarks/reload.py`` times the
same client under load inside real reloads.

    .venv/bin/python benchmarks/reload_client.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
# a pid that is never a server: the highest the kernel allows is below it
NO_SUCH_PID = "4194305"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    script = BIN / "socket-activation"
    commands = {
        "socket-activation reload PID": [str(script), "reload", NO_SUCH_PID],
        "python -m socket_activation reload PID": [
            sys.executable, "-m", "socket_activation", "reload", NO_SUCH_PID,
        ],
        "python -c pass (for scale)": [sys.executable, "-c", "pass"],
    }  # fmt: skip
    if not script.exists():
        print(f"{script} is missing: install the package into this venv first", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k != "MAINPID"}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            began = time.perf_counter()
            subprocess.run(command, capture_output=True, env=env, check=False)
            times[name].append((time.perf_counter() - began) * 1000)
    print(f"{args.runs} runs each, interleaved; ms")
    print(f"{'command':<40} {'median':>7} {'min':>7}")
    for name, values in times.items():
        print(f"{name:<40} {statistics.median(values):>7.1f} {min(values):>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
