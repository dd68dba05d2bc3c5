"""First request after an idle exit: connect to first byte, the service started by systemd.

Under a real (sandboxed) systemd user manager (tests/integration/usermanager.py; needs root),
each variant is a ``.socket`` unit + service on its own port. A round makes sure the service
is down, then times one request from ``connect()`` to the first byte of the answer: systemd
sees the connection, starts the service, the service imports, serves and answers.

Variants, bare beside the library (benchmarks/_first_request_apps.py):

- ``stdlib-bare``            http.server on fd 3, no library;
- ``stdlib-lib``             the same app through resolve() + serve_until_idle (idle exit);
- ``supervise+stdlib-bare``  the bare app under ``supervise --exit-idle-time 1``;
- ``supervise-late+stdlib-bare`` the same with ``--trust-pid1`` added, which changes nothing
  here but is an option supervise's early start does not take: its normal start-up path
  (parse, import, resolve, then spawn), beside the early one;
- ``supervise+demo``         ``socket-activation demo`` (a socketserver app on the library)
  under ``supervise --exit-idle-time 1``, compared with ``stdlib-bare``;
- ``demo-on-demand``         ``socket-activation demo --exit-idle-time 1``: the demo's own
  idle exit, no supervise, compared with ``stdlib-bare``;
- ``uvicorn-bare``           ``uvicorn.run(app, fd=3)``;
- ``uvicorn-lib``            ``integrations.uvicorn.run(app, exit_idle_time=1)``;
- ``supervise+uvicorn-bare`` the bare uvicorn app under ``supervise --exit-idle-time 1``.

The idle-exit variants go down by their own idle exit; the bare ones by ``systemctl stop``.
Rounds are interleaved (every variant once per round) so machine load hits all alike; the
table gives the median and p90, and each library variant's median minus its bare one's
(target: <= 15 ms). Run: ``.venv/bin/python benchmarks/first_request.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.integration.usermanager import (  # noqa: E402
    UserManager,
    exec_quote,
    sandbox_unavailable_reason,
)

APPS = Path(__file__).with_name("_first_request_apps.py")
PYTHON = sys.executable
# the console script, as `socket-activation units` writes it into ExecStart= (it uses the one
# on PATH); python -m runs runpy first, ~3 ms more
_SCRIPT = Path(PYTHON).with_name("socket-activation")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "socket_activation"]
SUPERVISE = [*CLI, "supervise", "--ready", "started"]
SUPERVISE += ["--exit-idle-time", "1", "--"]  # the bare apps send no READY=1
# --trust-pid1 changes nothing under systemd (LISTEN_PID is ours) but the early start does not
# take it: the normal start-up path
SUPERVISE_LATE = [*CLI, "supervise", "--trust-pid1", *SUPERVISE[len(CLI) + 1 :]]
# variant -> (command, goes down by itself, the bare variant it is compared with)
VARIANTS: dict[str, tuple[list[str], bool, str | None]] = {
    "stdlib-bare": ([PYTHON, str(APPS), "stdlib-bare"], False, None),
    "stdlib-lib": ([PYTHON, str(APPS), "stdlib-lib"], True, "stdlib-bare"),
    "supervise+stdlib-bare": (
        [*SUPERVISE, PYTHON, str(APPS), "stdlib-bare"],
        True,
        "stdlib-bare",
    ),
    "supervise-late+stdlib-bare": (
        [*SUPERVISE_LATE, PYTHON, str(APPS), "stdlib-bare"],
        True,
        "stdlib-bare",
    ),
    "supervise+demo": (
        [*SUPERVISE, *CLI, "demo"],
        True,
        "stdlib-bare",
    ),
    "demo-on-demand": ([*CLI, "demo", "--exit-idle-time", "1"], True, "stdlib-bare"),
    "uvicorn-bare": ([PYTHON, str(APPS), "uvicorn-bare"], False, None),
    "uvicorn-lib": ([PYTHON, str(APPS), "uvicorn-lib"], True, "uvicorn-bare"),
    "supervise+uvicorn-bare": (
        [*SUPERVISE, PYTHON, str(APPS), "uvicorn-bare"],
        True,
        "uvicorn-bare",
    ),
}
TARGET_MS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_byte(port: int, timeout: float = 20.0) -> float:
    """Seconds from connect() to the first byte of the answer to GET /."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        if not sock.recv(1):
            raise RuntimeError(f"port {port}: closed without an answer")
        elapsed = time.perf_counter() - started
        while sock.recv(4096):
            pass
    return elapsed


def setup(manager: UserManager, names: list[str]) -> dict[str, int]:
    ports = {}
    for index, name in enumerate(names):
        command, _, _ = VARIANTS[name]
        port = free_port()
        ports[name] = port
        unit = f"fr{index}"
        manager.write_unit(f"{unit}.socket", f"[Socket]\nListenStream=127.0.0.1:{port}\n")
        manager.write_unit(
            f"{unit}.service",
            "[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=simple\n"
            f"Environment=PYTHONPATH={ROOT / 'src'}:{ROOT}\n"
            f"ExecStart={exec_quote(*command)}\n",
        )
    manager.daemon_reload()
    manager.systemctl("start", *(f"fr{i}.socket" for i in range(len(names))))
    return ports


def down(manager: UserManager, index: int, by_itself: bool) -> None:
    unit = f"fr{index}.service"
    if not by_itself:
        manager.systemctl("stop", unit)
    manager.wait_for(unit, "ActiveState", "inactive", timeout=30)


def measure(rounds: int, names: list[str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in names}
    with UserManager.start() as manager:
        ports = setup(manager, names)
        for index, name in enumerate(names):  # warm the page cache: the first start is slower
            first_byte(ports[name])
            down(manager, index, VARIANTS[name][1])
        for _ in range(rounds):
            for index, name in enumerate(names):
                times[name].append(first_byte(ports[name]) * 1000)
                down(manager, index, VARIANTS[name][1])
    return times


def render(times: dict[str, list[float]], rounds: int) -> str:
    def p90(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]

    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = [("variant", "median ms", "p90 ms", "added vs bare (median)", "target")]
    for name, values in times.items():
        bare = VARIANTS[name][2]
        if bare is None or bare not in medians:
            added, verdict = "-", "-"
        else:
            delta = medians[name] - medians[bare]
            added = f"{delta:+.1f} ms vs {bare}"
            verdict = "meets" if delta <= TARGET_MS else "MISSES"
        rows.append((name, f"{medians[name]:.1f}", f"{p90(values):.1f}", added, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"first request after an idle exit (systemd starts the service; connect to first byte), "
        f"{rounds} interleaved rounds; target: the library adds <= {TARGET_MS:g} ms",
    ]
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list")
    args = parser.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not 1 <= args.rounds <= 100:
        parser.error(f"unknown variants {unknown} or --rounds outside 1..100")
    reason = sandbox_unavailable_reason()
    if reason:
        print(f"first_request: skipped: no sandboxed user manager here: {reason}")
        return 0
    print(render(measure(args.rounds, names), args.rounds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
