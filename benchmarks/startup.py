"""Start-up cost, side by side in one run: what an activated server pays before serving.

Each row runs a fresh interpreter many times (interleaved with the row it is compared with, so
load drifts hit both alike) and reports the
median wall time of the measured code, taken inside the child with ``perf_counter_ns`` around the
imports and calls, so interpreter start-up itself is excluded:

1. activated path: ``import socket_activation`` + take one inherited socket (LISTEN_FDS=1)
   vs ``import systemd.daemon`` + ``listen_fds_with_names()`` (libsystemd's binding);
2. ``resolve()`` with a ServerConfig built in code vs the bare cost of importing pydantic and
   validating a small model;
3. resolving 1,000 inherited fds (per-fd cost);
4. each config source: import + load, beside the pydantic baseline (when the sources exist).

Run: ``.venv/bin/python benchmarks/startup.py [--runs N]``. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Each snippet prints the elapsed nanoseconds of its measured part. The prelude imports only
# what timing needs: preloading e.g. json (and with it re and enum) would make both sides of a
# comparison cheaper by the same amount and inflate the ratio.
PRELUDE = "import time, os\nt0 = time.perf_counter_ns()\n"
EPILOGUE = "\nprint(time.perf_counter_ns() - t0)\n"

OURS_ACTIVATED = """
import socket_activation
from socket_activation.systemd.activation import systemd_activation
sock = systemd_activation().listeners[0].socket()
"""
SYSTEMD_PYTHON = """
import systemd.daemon
fds = systemd.daemon.listen_fds_with_names()
"""
OURS_RESOLVE = """
from socket_activation import ServerConfig
from socket_activation._resolve import resolve
res = resolve(ServerConfig(host="127.0.0.1", port=0), launchd=False)
"""
PYDANTIC_BASELINE = """
from pydantic import BaseModel
class Small(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    backlog: int = 2048
Small(host="127.0.0.1", port=0)
"""
RESOLVE_MANY = """
from socket_activation.systemd.activation import systemd_activation
from socket_activation._resolve import resolve
from socket_activation import ServerConfig
config = ServerConfig()
t0 = time.perf_counter_ns()
res = resolve(config, launchd=False)
assert len(res.sockets) == int(os.environ["N"]), len(res.sockets)
"""
SOURCES = {
    "env source": """
from socket_activation.sources import load_config
load_config(environ={"SOCKET_ACTIVATION_PORT": "8080"})
""",
    "TOML source": """
from socket_activation.sources import load_config
load_config(toml=os.environ["TOML"], environ={})
""",
    "unit source": """
from socket_activation.sources import load_config
load_config(unit=os.environ["UNIT"], environ={})
""",
    "plist source": """
from socket_activation.sources import load_config
load_config(plist=os.environ["PLIST"], environ={})
""",
}


def run(
    codes: list[str], runs: int, *, fds: int = 0, extra_env: dict[str, str] | None = None
) -> list[float]:
    """Median microseconds of each snippet in *codes* over *runs* fresh interpreters.

    The snippets are run interleaved (A, B, A, B, ...), so a drift in the machine's load
    affects every one of them alike and the ratios stay meaningful on a shared machine.
    """
    samples: list[list[float]] = [[] for _ in codes]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    env.update(extra_env or {})
    socks: list[socket.socket] = []
    try:
        for _ in range(fds):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            socks.append(s)
        setup = ""
        if fds:
            # place the fds at 3.. in the child and claim them, as systemd would
            setup = (
                f"fds = {[s.fileno() for s in socks]!r}\n"
                "lifted = [os.dup(f) for f in fds]\n"
                "[os.dup2(f, 3 + i) for i, f in enumerate(lifted)]\n"
                "[os.close(f) for f in lifted if f >= 3 + len(fds)]\n"
                "os.environ['LISTEN_PID'] = str(os.getpid())\n"
                f"os.environ['LISTEN_FDS'] = '{fds}'\n"
            )
        scripts = ["import os\n" + setup + PRELUDE + code + EPILOGUE for code in codes]
        pass_fds = [s.fileno() for s in socks]
        for _ in range(runs):
            for script, series in zip(scripts, samples, strict=True):
                out = subprocess.run(
                    [sys.executable, "-c", script],
                    env=env,
                    pass_fds=pass_fds,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                series.append(int(out.strip().splitlines()[-1]) / 1000)
    finally:
        for s in socks:
            s.close()
    return [statistics.median(series) for series in samples]


def have(module: str) -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, check=False
    )
    return probe.returncode == 0


def precompile() -> None:
    """Byte-compile the package, as installing a wheel does.

    With ``PYTHONDONTWRITEBYTECODE=1`` (set on some machines) an editable install would
    otherwise be compiled from source in every fresh interpreter, which no deployment pays.
    """
    import compileall

    import socket_activation

    compileall.compile_dir(str(Path(socket_activation.__file__).parent), quiet=1)


def main() -> None:
    precompile()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="fresh interpreters per row")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    runs = args.runs
    rows: list[tuple[str, float, str]] = []

    if have("systemd.daemon"):
        peer, ours = run([SYSTEMD_PYTHON, OURS_ACTIVATED], runs, fds=1)
        rows.append(("activated: systemd-python listen_fds_with_names", peer, "1.00x (peer)"))
        rows.append(("activated: socket_activation (import + socket)", ours, f"{ours / peer:.2f}x"))
    else:
        (ours,) = run([OURS_ACTIVATED], runs, fds=1)
        rows.append(("activated: socket_activation (import + socket)", ours, "peer missing"))

    snippets = [PYDANTIC_BASELINE, OURS_RESOLVE]
    labels = ["resolve(ServerConfig(...)) binding one socket"]
    extra_env: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if have("socket_activation.sources"):
            extra_env = _source_files(Path(tmp))
            snippets += list(SOURCES.values())
            labels += [f"{label}: import + load" for label in SOURCES]
        base, *costs = run(snippets, runs, extra_env=extra_env)
    rows.append(("baseline: import pydantic + validate small model", base, "1.00x (baseline)"))
    rows += [
        (label, cost, f"{cost / base:.2f}x baseline")
        for label, cost in zip(labels, costs, strict=True)
    ]

    (many,) = run([RESOLVE_MANY], max(5, runs // 5), fds=1000, extra_env={"N": "1000"})
    rows.append(("resolve() of 1,000 inherited fds", many, f"{many / 1000:.1f} us per fd"))

    width = max(len(r[0]) for r in rows)
    print(f"{'case'.ljust(width)}  {'median us':>10}  ratio")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 16}")
    for label, micros, ratio in rows:
        print(f"{label.ljust(width)}  {micros:>10.0f}  {ratio}")
    print(f"({runs} fresh interpreters per row; Python {sys.version.split()[0]})")
    if args.json:
        print(json.dumps([{"case": r[0], "median_us": r[1], "ratio": r[2]} for r in rows]))


def _source_files(tmp: Path) -> dict[str, str]:
    toml = tmp / "server.toml"
    toml.write_text('port = 8080\nlisten = ["127.0.0.1:8080"]\n')
    unit = tmp / "demo.socket"
    unit.write_text("[Socket]\nListenStream=127.0.0.1:8080\nListenDatagram=127.0.0.1:8080\n")
    plist = tmp / "demo.plist"
    import plistlib

    plist.write_bytes(
        plistlib.dumps(
            {
                "Label": "demo",
                "Sockets": {"web": {"SockNodeName": "127.0.0.1", "SockServiceName": "8080"}},
            }
        )
    )
    return {"TOML": str(toml), "UNIT": str(unit), "PLIST": str(plist)}


if __name__ == "__main__":
    main()
