"""How long ``supervise`` takes from its own exec to its child's exec, beside what it is made of.

Each run passes one listening loopback socket as systemd does (fd 3, ``LISTEN_FDS=1``,
``LISTEN_FDNAMES=web``, ``LISTEN_PID`` set by a ``sh`` trampoline that then execs the command)
and starts ``COMMAND -- /bin/date +%s%N``: the time is from just before the spawn to the
moment ``date`` runs (its own clock reading). Variants, interleaved run by run:

- ``sh``                    the trampoline alone execing ``date`` (the floor);
- ``python``                the interpreter starting and execing ``date`` at once;
- ``supervise (script)``    the console script (what ``socket-activation units`` writes into
  ``ExecStart=``): the early start;
- ``supervise (-m)``        ``python -m socket_activation supervise``: the early start;
- ``supervise --trust-pid1`` the console script with an option the early start does not take
  (a no-op here): the ordinary start-up path.

Run: ``.venv/bin/python benchmarks/supervise_start.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

PYTHON = sys.executable
SCRIPT = str(Path(PYTHON).with_name("socket-activation"))
SUPERVISE = ["supervise", "--ready", "started", "--restart", "no"]
EXEC_NOW = "import os, sys; i = sys.argv.index('--'); os.execv(sys.argv[i + 1], sys.argv[i + 1:])"
VARIANTS: dict[str, list[str]] = {
    "sh": ["/bin/sh", "-c", 'shift; exec "$@"', "sh"],
    "python": [PYTHON, "-c", EXEC_NOW],
    "supervise (script)": [SCRIPT, *SUPERVISE],
    "supervise (-m)": [PYTHON, "-m", "socket_activation", *SUPERVISE],
    "supervise --trust-pid1": [SCRIPT, "supervise", "--trust-pid1", *SUPERVISE[1:]],
}
TRAMPOLINE = 'export LISTEN_PID=$$; exec "$@"'


def once(command: list[str]) -> float:
    """Milliseconds from spawning *command* with a passed socket to its child's exec."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="web")
        env = {k: v for k, v in env.items() if not k.startswith("SOCKET_ACTIVATION_")}
        argv = ["/bin/sh", "-c", TRAMPOLINE, "sh", *command, "--", "/bin/date", "+%s%N"]
        copy = os.dup(listener.fileno())  # never 3 itself: dup2 onto 3 clears close-on-exec
        read, write = os.pipe()
        null = os.open(os.devnull, os.O_WRONLY)
        actions: list[tuple[int, ...]] = [
            (os.POSIX_SPAWN_DUP2, copy, 3),
            (os.POSIX_SPAWN_DUP2, write, 1),
            (os.POSIX_SPAWN_DUP2, null, 2),
            (os.POSIX_SPAWN_CLOSE, read),
        ]
        started = time.time_ns()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        for fd in (write, null, copy):
            os.close(fd)
        with os.fdopen(read) as out:
            line = out.readline()
        os.waitpid(pid, 0)
    return (int(line) - started) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per variant (default 15)")
    args = parser.parse_args()
    if not 1 <= args.runs <= 200:
        parser.error("--runs must be 1..200")
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, command in VARIANTS.items():
            times[name].append(once(command))
    floor = statistics.median(times["python"])
    print(f"exec to the child's exec, {args.runs} interleaved runs, milliseconds")
    print(f"{'variant':<24}  {'median':>7}  {'min':>6}  {'max':>6}  {'over python':>11}")
    for name, values in times.items():
        median = statistics.median(values)
        over = f"{median - floor:+.1f}" if name.startswith("supervise") else ""
        print(f"{name:<24}  {median:7.1f}  {min(values):6.1f}  {max(values):6.1f}  {over:>11}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
