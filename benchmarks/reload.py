"""How long does ``systemctl reload`` take, beside the new generation's own start-up?

Under a real (sandboxed) systemd user manager (tests/integration/usermanager.py; needs root),
a ``.socket`` unit and its ``Type=notify`` service run tests/support/restart_app.py
(``--startup`` seconds of start-up work) while ``--clients`` threads make one connection per
request. ``--reloads`` times, ``systemctl --user reload`` is timed from the call to its
return. Scenarios, side by side:

- ``direct``: no systemd: ``supervise`` started here, and ``socket-activation reload PID``
  timed from its start to its exit (what the library itself costs);

- ``supervise``: ``supervise`` + ``ExecReload=socket-activation reload`` (waits for the new
  generation's READY=1 and for the old one to let go of the sockets);
- ``handoff``: the app upgrades itself (``restart.handoff_control``) +
  ``ExecReload=socket-activation reload``;
- ``kill-hup``: ``supervise`` + ``ExecReload=kill -HUP $MAINPID``, the usual unit line, which
  returns as soon as the signal is sent: the peer that does not tell the truth;
- ``true``: ``ExecReload=/bin/true``: what ``systemctl reload`` itself costs (client, manager,
  nsenter into the sandbox), subtracted in the "ours" column.

"start-up" is the app's own: spawn to ``READY=1`` with the same sockets and no supervisor,
measured ``--reloads`` times outside systemd. "stale" counts requests begun after a reload
returned but answered by an older pid (0 means: when it returns, the new code serves).

    sudo .venv/bin/python benchmarks/reload.py [--reloads 20] [--startup 0.3] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.load import Load, Sample  # noqa: E402

from socket_activation.restart.readiness import ReadinessSocket  # noqa: E402
from socket_activation.restart.spawn import spawn_with_sockets  # noqa: E402

APP = ROOT / "tests" / "support" / "restart_app.py"
PYTHON = sys.executable
SCENARIOS = ("direct", "supervise", "handoff", "kill-hup", "true")
REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_startups(count: int, startup: float) -> list[float]:
    """Spawn to READY=1 of the app alone on a socket of ours, *count* times, in seconds."""
    out = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
        for _ in range(count):
            with ReadinessSocket() as readiness:
                env["NOTIFY_SOCKET"] = readiness.address
                started = time.monotonic()
                pid = spawn_with_sockets(
                    [PYTHON, str(APP), "--startup", str(startup)], [listener.fileno()], ["web"], env
                )
                readiness.wait_ready(pid, 30)
                out.append(time.monotonic() - started)
                os.kill(pid, 15)
                os.waitpid(pid, 0)
    return out


def client_starts(count: int) -> list[float]:
    """Wall time of ``socket-activation reload`` asking a pid without a control socket: what
    starting the client costs (it fails at once)."""
    out = []
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    for _ in range(count):
        started = time.monotonic()
        subprocess.run(
            [PYTHON, "-m", "socket_activation", "reload", "1"],
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
        out.append(time.monotonic() - started)
    return out


def unit_text(scenario: str, startup: float, log: Path) -> str:
    from tests.integration.usermanager import exec_quote

    app = [PYTHON, str(APP), "--startup", str(startup)]
    supervise = [PYTHON, "-m", "socket_activation", "supervise", "--drain-timeout", "10", "--"]
    reload_cmd = exec_quote(PYTHON, "-m", "socket_activation", "reload")
    if scenario == "supervise":
        start, reload_line, access = exec_quote(*supervise, *app), reload_cmd, "main"
    elif scenario == "handoff":
        start, reload_line, access = exec_quote(*app, "--serve-reload"), reload_cmd, "all"
    elif scenario == "kill-hup":
        start, reload_line, access = exec_quote(*supervise, *app), "kill -HUP $MAINPID", "main"
    else:
        start, reload_line, access = exec_quote(*supervise, *app), "/bin/true", "main"
    return (
        "[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=notify\n"
        f"NotifyAccess={access}\n"
        f"Environment=PYTHONPATH={ROOT / 'src'}:{ROOT}\n"
        f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
        f"ExecStart={start}\nExecReload={reload_line}\n"
    )


def run_direct(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """supervise without systemd; ``socket-activation reload PID`` timed, same load."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    argv = [PYTHON, "-m", "socket_activation", "supervise", "--listen", f"127.0.0.1:{port}"]
    app = [PYTHON, str(APP), "--startup", str(args.startup)]
    log = (tmp / "direct.log").open("w")
    sup = subprocess.Popen([*argv, "--drain-timeout", "10", "--", *app], env=env, stderr=log)
    probe = Load(("127.0.0.1", port), clients=1)
    took: list[float] = []
    returned: list[float] = []
    pids_before: list[int] = []
    answers: list[str] = []
    failed = 0
    try:
        deadline = time.monotonic() + 30
        while probe.one(REQUEST).outcome != "ok" and time.monotonic() < deadline:
            time.sleep(0.05)
        with Load(("127.0.0.1", port), clients=args.clients) as load:
            time.sleep(0.5)
            for _ in range(args.reloads):
                pids_before.append(probe.one(REQUEST).pid)
                started = time.monotonic()
                done = subprocess.run(
                    [PYTHON, "-m", "socket_activation", "reload", str(sup.pid)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=120,
                )
                returned.append(time.monotonic())
                took.append(returned[-1] - started)
                answers.append(done.stdout)
                failed += done.returncode != 0
                time.sleep(args.interval)
    finally:
        sup.terminate()
        sup.wait(30)
        log.close()
    text = "".join(answers)
    return {
        "scenario": "direct",
        "clients": [],
        "ready": [float(m) / 1000 for m in re.findall(r"ready after (\d+) ms", text)],
        "release": [float(m) / 1000 for m in re.findall(r"let go of the sockets (\d+) ms", text)],
        "took": took,
        "failed_reloads": failed,
        "failed_requests": sum(load.failures().values()),
        "failures": dict(load.failures()),
        "failed_latencies": [x.latency for x in load.samples if x.outcome != "ok"],
        "requests": len(load.samples),
        "stale": count_stale(load.samples, returned, pids_before, args.interval),
    }


def count_stale(
    samples: list[Sample], returned: list[float], pids_before: list[int], interval: float
) -> int:
    """Requests begun after reload i returned, answered by the pid that served before it."""
    stale = 0
    for index, end in enumerate(returned):
        until = returned[index + 1] - interval if index + 1 < len(returned) else end + 0.2
        stale += sum(1 for s in samples if end <= s.start < until and s.pid == pids_before[index])
    return stale


def run_scenario(
    manager: object, scenario: str, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    from tests.integration.usermanager import UserManager

    assert isinstance(manager, UserManager)
    port = free_port()
    name = manager.unique_name(f"bench-{scenario}")
    log = tmp / f"{name}.log"
    manager.write_unit(f"{name}.socket", f"[Socket]\nListenStream=127.0.0.1:{port}\n")
    manager.write_unit(f"{name}.service", unit_text(scenario, args.startup, log))
    manager.daemon_reload()
    manager.systemctl("start", f"{name}.socket")
    probe = Load(("127.0.0.1", port), clients=1)
    try:
        deadline = time.monotonic() + 30
        while probe.one(REQUEST).outcome != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{scenario}: the service never answered\n{log.read_text()}")
            time.sleep(0.05)
        manager.wait_for(f"{name}.service", "ActiveState", "active")
        took: list[float] = []
        returned: list[float] = []
        pids_before: list[int] = []
        failed_reloads = 0
        with Load(("127.0.0.1", port), clients=args.clients) as load:
            time.sleep(0.5)
            for _ in range(args.reloads):
                pids_before.append(probe.one(REQUEST).pid)
                started = time.monotonic()
                done = manager.systemctl("reload", f"{name}.service", check=False, timeout=120)
                returned.append(time.monotonic())
                took.append(returned[-1] - started)
                failed_reloads += done.returncode != 0
                time.sleep(args.interval)
            clients = client_starts(10) if scenario == "true" else []
        stale = count_stale(load.samples, returned, pids_before, args.interval)
        text = log.read_text() if log.exists() else ""
        return {
            "scenario": scenario,
            "clients": clients,
            "ready": [float(m) / 1000 for m in re.findall(r"ready after (\d+) ms", text)],
            "release": [
                float(m) / 1000 for m in re.findall(r"let go of the sockets (?:in )?(\d+) ms", text)
            ],
            "took": took,
            "failed_reloads": failed_reloads,
            "failed_requests": sum(load.failures().values()),
            "failures": dict(load.failures()),
            "failed_latencies": [x.latency for x in load.samples if x.outcome != "ok"],
            "requests": len(load.samples),
            "stale": stale,
        }
    finally:
        manager.systemctl("stop", f"{name}.socket", f"{name}.service", check=False)


def ms(values: list[float], q: float | None = None) -> float:
    ordered = sorted(values)
    if q is None:
        return statistics.median(ordered) * 1000
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--startup", type=float, default=0.3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.3, help="pause between reloads")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    from tests.integration.usermanager import UserManager, sandbox_unavailable_reason

    reason = sandbox_unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    startups = bare_startups(args.reloads, args.startup)
    tmp = Path(tempfile.mkdtemp(prefix="sa-bench-reload-", dir="/tmp"))
    results = []
    try:
        with UserManager.start() as manager:
            for scenario in args.scenarios.split(","):
                if scenario == "direct":
                    results.append(run_direct(args, tmp))
                else:
                    results.append(run_scenario(manager, scenario, args, tmp))
    finally:
        if any(r["failed_requests"] or r["failed_reloads"] for r in results):
            print(f"failures: the services' logs are kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    base = ms(startups)
    cost = next((ms(r["took"]) for r in results if r["scenario"] == "true"), 0.0)
    print(
        f"{args.reloads} reloads per scenario, app start-up work {args.startup:g} s, "
        f"{args.clients} clients; systemd user manager 252; {os.cpu_count()} CPUs\n"
        f"the app's own start-up (spawn to READY=1, no supervisor): median {base:.0f} ms, "
        f"p95 {ms(startups, 0.95):.0f} ms\n"
    )
    rows = []
    for r in results:
        took, ready, release = r["took"], r["ready"], r["release"]
        paired = len(ready) == len(took)
        over = [t - g for t, g in zip(took, ready, strict=True)] if paired else []
        rows.append(
            {
                "scenario": r["scenario"],
                "reload med": f"{ms(took):.0f}",
                "p95": f"{ms(took, 0.95):.0f}",
                "max": f"{max(took) * 1000:.0f}",
                "new gen start-up med": f"{ms(ready):.0f}" if paired else "-",
                "handover med": f"{ms(release):.0f}" if release else "-",
                "reload - start-up med": f"{ms(over):+.0f}" if over else "-",
                "worst": f"{max(over) * 1000:+.0f}" if over else "-",
                "reload - bare start-up med": f"{ms(took) - base:+.0f}" if paired else "-",
                "failed reloads": str(r["failed_reloads"]),
                "requests": str(r["requests"]),
                "failed": str(r["failed_requests"]),
                "stale": str(r["stale"]) if r["scenario"] != "true" else "-",
                "failures": " ".join(f"{k}={v}" for k, v in r["failures"].items())
                + (
                    f" (after {min(r['failed_latencies']):.1f}-{max(r['failed_latencies']):.1f} s)"
                    if r["failed_latencies"]
                    else "-"
                ),
            }
        )
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].rjust(widths[c]) for c in columns))
    print(
        f"\nms throughout. 'new gen start-up': spawn to READY=1 of each new generation, measured\n"
        f"by supervise / the old process, under the same load; 'reload - start-up': per reload,\n"
        f"target <= 100 ms ('worst': the worst reload); 'reload - bare start-up': the reload's\n"
        f"median beside the app's own start-up without load. 'handover': READY=1 until the old\n"
        f"generation closed its sockets.\n"
        f"ExecReload=/bin/true ('true') is what systemctl reload costs by itself "
        f"({cost:.0f} ms here).\n'stale': requests begun after systemctl reload returned but "
        f"answered by the generation from before it."
    )
    clients: list[float] = next((r["clients"] for r in results if r["clients"]), [])
    if clients:
        print(
            f"starting the reload client itself, under the same load: median "
            f"{ms(clients):.0f} ms, p95 {ms(clients, 0.95):.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
