"""What a new generation's start-up costs in CPU: the time it takes from the one that serves.

On two cores, the CPU a starting generation burns before ``READY=1`` is CPU the serving one
and its clients do not get. This starts tests/support/restart_app.py (``--startup 0``: no
simulated work, only the interpreter, the imports and the set-up) on a loopback socket, waits
for its ``READY=1`` and reads the CPU time it used so far (``/proc/PID/schedstat``), beside
a bare ``python -c pass`` and the imports alone (CPU of the whole short-lived process).

Run: ``.venv/bin/python benchmarks/generation_cost.py [--runs N]``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from socket_activation.restart.readiness import ReadinessSocket  # noqa: E402
from socket_activation.restart.spawn import spawn_with_sockets  # noqa: E402

APP = ROOT / "tests" / "support" / "restart_app.py"
ENV = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
IMPORTS = "import socket_activation.restart.handoff, socket_activation.systemd.activation"


def cpu_ms(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


def to_ready(listener: socket.socket) -> float:
    with ReadinessSocket() as readiness:
        env = dict(ENV, NOTIFY_SOCKET=readiness.address, RESTART_APP_LOG=os.devnull)
        pid = spawn_with_sockets([sys.executable, str(APP)], [listener.fileno()], ["web"], env)
        try:
            readiness.wait_ready(pid, 30)
            return cpu_ms(pid)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def whole_life(code: str) -> float:
    before = os.times()
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True)
    after = os.times()
    used = after.children_user - before.children_user
    used += after.children_system - before.children_system
    return used * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    rows: dict[str, list[float]] = {
        "restart_app, spawn to READY=1": [],
        "python -c pass (whole process)": [],
        "python -c 'import handoff, activation' (whole)": [],
    }
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        for _ in range(args.runs):  # interleaved: load drift hits every row alike
            rows["restart_app, spawn to READY=1"].append(to_ready(listener))
            rows["python -c pass (whole process)"].append(whole_life("pass"))
            rows["python -c 'import handoff, activation' (whole)"].append(whole_life(IMPORTS))
    width = max(map(len, rows))
    print(f"CPU a generation uses to start, {args.runs} interleaved runs (os.times: 10 ms ticks)")
    print(f"{'':{width}}  median ms  min ms")
    for name, values in rows.items():
        print(f"{name:{width}}  {statistics.median(values):9.1f}  {min(values):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
