"""Reloading each server under load: granian's own SIGHUP reload next to ``supervise`` rollouts.

granian (2.8.9 tested) cannot serve an inherited socket, so it cannot run under
``socket-activation supervise``; its own reload (SIGHUP: the same master respawns its workers
on the socket it bound) is what it has. This runs a bounded closed-loop HTTP load on loopback
(``--clients`` threads, one new connection per request) and reloads each server
``--reloads`` times, ``--interval`` seconds apart:

- ``granian``: ``granian --workers 1`` on its own port, SIGHUP to its master;
- every integration of tests/integration/apps/serve_more.py under ``supervise`` + SIGHUP.

granian's row also says whether code changed on disk before the last reload is served after it.
The load makes a new connection per request: on a busy machine a client port can collide
with a connection still in TIME_WAIT, and the SYN is then retransmitted after 1 s (watch
``nstat TcpExtTCPSynRetrans``; ``TcpExtListenOverflows`` stays 0). Such stalls show in max
latency, and a chain of them past the 10 s request timeout counts as ``other``.
Prints ONE table, servers side by side, with each one's failed requests and max latency.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.load import Load  # noqa: E402

SERVE_MORE = ROOT / "tests" / "integration" / "apps" / "serve_more.py"
# Seconds granian gets to serve the code changed before its last reload.
_NEW_CODE_WAIT = 15.0
SUPERVISED = ["aiohttp", "tornado", "waitress", "twisted", "daphne", "trio", "anyio-asyncio"]
APP = """import os
VERSION = b"{version}"
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = str(os.getpid()).encode()
    headers = [(b"content-length", str(len(body)).encode()), (b"x-version", VERSION)]
    await send({{"type": "http.response.start", "status": 200, "headers": headers}})
    await send({{"type": "http.response.body", "body": body}})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_answer(port: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return str(response.headers.get("x-version", ""))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_load(
    port: int, proc: subprocess.Popen[bytes], args: argparse.Namespace, before_last: object
) -> Load:
    with Load(("127.0.0.1", port), clients=args.clients, max_requests=1_000_000) as load:
        time.sleep(args.interval)
        for number in range(args.reloads):
            if number == args.reloads - 1 and callable(before_last):
                before_last()
            os.kill(proc.pid, signal.SIGHUP)
            time.sleep(args.interval)
    return load


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def granian(args: argparse.Namespace, tmp: Path) -> tuple[Load, str]:
    (tmp / "gapp.py").write_text(APP.format(version="v1"))
    port = free_port()
    argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1", "--log-level", "warning", "gapp:app"]
    proc = subprocess.Popen(argv, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_answer(port)
        load = run_load(
            port, proc, args, lambda: (tmp / "gapp.py").write_text(APP.format(version="v2"))
        )
        changed = time.monotonic()
        served = wait_answer(port)
        while served != "v2" and time.monotonic() < changed + _NEW_CODE_WAIT:
            time.sleep(0.2)  # granian respawns workers --respawn-interval (3.5 s) apart
            served = wait_answer(port)
        after = time.monotonic() - changed
    finally:
        stop(proc)
    if served != "v2":
        return load, f"no (not within {_NEW_CODE_WAIT:.0f} s)"
    return load, f"yes, {after:.1f} s after the last reload"


def supervised(name: str, args: argparse.Namespace) -> Load:
    port = free_port()
    argv = [sys.executable, "-m", "socket_activation", "supervise", "-l", f"127.0.0.1:{port}"]
    argv += ["--", sys.executable, str(SERVE_MORE), name]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_answer(port)
        return run_load(port, proc, args, None)
    finally:
        stop(proc)


def row(name: str, how: str, load: Load, new_code: str) -> str:
    failed = sum(load.failures().values())
    worst = max((s.latency for s in load.samples), default=0.0)
    return (
        f"| {name} | {how} | {len(load.samples)} | {failed} "
        f"| {dict(load.failures()) or '-'} | {worst * 1000:.0f} | {new_code} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between reloads")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--only", nargs="*", help="servers to run (default: all)")
    args = parser.parse_args()
    rows = []
    wanted = set(args.only or ["granian", *SUPERVISED])
    with tempfile.TemporaryDirectory() as tmp:
        if "granian" in wanted:
            load, new_code = granian(args, Path(tmp))
            rows.append(row("granian", "own SIGHUP reload", load, new_code))
    for name in SUPERVISED:
        if name in wanted:
            rows.append(
                row(name, "supervise + SIGHUP", supervised(name, args), "yes (new process)")
            )
    print(f"{args.reloads} reloads, {args.interval} s apart, {args.clients} clients")
    print("| server | reload | requests | failed | outcomes | max latency ms | new code |")
    print("|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
