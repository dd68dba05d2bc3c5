"""Smoke-test an installed socket-activation: ``inspect``, ``exec`` and ``notify`` really work.

Run as a script with the standard library only, by the release test, the release workflow and
``.ci/fresh-machine``::

    python tests/support/wheel_smoke.py VENV_BIN [EXPECTED_VERSION]

``VENV_BIN`` is the ``bin`` directory of the venv the wheel was installed in; it is the whole
``PATH`` of every command run, so no C compiler can be found (checked). The venv must not hold
systemd-python (checked). Each check prints one ``ok ...`` line; the first failure exits 1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

COMPILERS = ("cc", "gcc", "clang", "c99")
# the exec'd program checks what systemd would give it: LISTEN_* and a listening TCP socket at 3
CHILD = """
import os, socket, sys
assert os.environ["LISTEN_PID"] == str(os.getpid()), os.environ["LISTEN_PID"]
assert os.environ["LISTEN_FDS"] == "1" and os.environ["LISTEN_FDNAMES"] == "web", os.environ
s = socket.socket(fileno=3)
assert s.type == socket.SOCK_STREAM and s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
print(s.getsockname()[0])
s.detach()
"""


class SmokeError(Exception):
    """A check failed; the message says which and what was seen."""


def run(bindir: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run a command found in *bindir* only; its stdout, or SmokeError with its output."""
    full_env = {"PATH": str(bindir), "LANG": "C.UTF-8", **(env or {})}
    done = subprocess.run(
        [str(bindir / argv[0]), *argv[1:]],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise SmokeError(f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def check_machine(bindir: Path) -> None:
    """No compiler on the PATH the commands get; no systemd-python in the venv."""
    found = [name for name in COMPILERS if shutil.which(name, path=str(bindir))]
    if found:
        raise SmokeError(f"a C compiler is on PATH {bindir}: {found}")
    code = "import importlib.util as u; print(u.find_spec('systemd') is None)"
    if run(bindir, "python", "-c", code).strip() != "True":
        raise SmokeError("systemd-python is installed in the venv under test")
    print(f"ok no C compiler on PATH ({bindir}), no systemd-python in the venv")


def check_version(bindir: Path, expected: str | None) -> None:
    out = run(bindir, "socket-activation", "--version").split()
    if expected is not None and out[-1] != expected:
        raise SmokeError(f"--version printed {out}, expected {expected}")
    print(f"ok socket-activation --version: {' '.join(out)}")


def check_inspect(bindir: Path) -> None:
    """``inspect --json`` binds what the configuration says and reports it."""
    report = json.loads(
        run(
            bindir, "socket-activation", "inspect", "--json", "-l", "127.0.0.1:0", "--fdname", "web"
        )
    )
    [sock] = report["sockets"]
    seen = (sock["name"], sock["source"], sock["kind"], sock["listening"])
    if seen != ("web", "bound", "tcp", True) or not sock["address"].startswith("127.0.0.1:"):
        raise SmokeError(f"inspect reported {report}")
    print(f"ok inspect: {sock['name']} {sock['source']} {sock['kind']} {sock['address']}")


def check_exec(bindir: Path) -> None:
    """``exec`` binds, then execs a program that finds LISTEN_* and the socket at fd 3."""
    argv = ("socket-activation", "exec", "-l", "127.0.0.1:0", "--fdname", "web", "--")
    out = run(bindir, *argv, str(bindir / "python"), "-c", CHILD)
    if out.strip() != "127.0.0.1":
        raise SmokeError(f"the exec'd program printed {out!r}")
    print("ok exec: the program got LISTEN_FDS=1, LISTEN_FDNAMES=web, its pid, fd 3 listening")


def check_notify(bindir: Path) -> None:
    """``notify --ready`` sends READY=1 to a real AF_UNIX datagram socket at NOTIFY_SOCKET."""
    with tempfile.TemporaryDirectory(prefix="sa-smoke-") as tmp:
        path = os.path.join(tmp, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
            manager.bind(path)
            manager.settimeout(30)
            env = {"NOTIFY_SOCKET": path}
            run(
                bindir,
                "socket-activation",
                "notify",
                "--ready",
                "--status",
                "smoke",
                "--no-block",
                env=env,
            )
            message = manager.recv(4096).decode()
    if sorted(message.split("\n")) != ["READY=1", "STATUS=smoke"]:
        raise SmokeError(f"the notify socket received {message!r}")
    print(f"ok notify: the socket received {message!r}")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    bindir = Path(argv[1]).resolve()
    expected = argv[2] if len(argv) == 3 else None
    try:
        check_machine(bindir)
        check_version(bindir, expected)
        check_inspect(bindir)
        check_exec(bindir)
        check_notify(bindir)
    except SmokeError as exc:
        print(f"FAILED {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
