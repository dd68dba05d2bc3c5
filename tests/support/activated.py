"""Run test code in an activated child: the test's sockets at fds 3, 4, ... as a manager would.

The child (activated_child.py) places the fds, sets its own LISTEN_PID and runs *body* after
PRELUDE, which imports ``socket_activation.systemd.activation`` as ``sd`` and gives helpers to
report CLOEXEC, the LISTEN_* environment and what a grandchild inherits.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.paths import ROOT, TESTS

CHILD = TESTS / "support" / "activated_child.py"


PRELUDE = r"""
import fcntl, json, os, socket, subprocess, sys
from socket_activation.systemd import activation as sd
from tests.support.paths import ROOT, TESTS

def cloexec(fd):
    try:
        return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    except OSError:
        return None

def listen_env():
    return {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}

def show(act):
    return {
        "source": act.source,
        "notes": list(act.notes),
        "remote": [act.remote_addr, act.remote_port],
        "fds": [
            {
                "fd": e.fd,
                "name": e.name,
                "kind": e.kind,
                "listening": e.info.listening if e.is_socket else None,
                "address": e.info.address if e.is_socket else None,
                "peer": e.info.peer if e.is_socket else None,
                "what": None if e.is_socket else e.info,
                "is_connection": e.is_connection,
                "is_listener": e.is_listener,
            }
            for e in act.fds
        ],
    }

def grandchild_view():
    # close_fds=False: only CLOEXEC keeps the passed fds out of the grandchild.
    code = (
        "import json, os\n"
        "def is_open(fd):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print(json.dumps([[fd for fd in range(3, 10) if is_open(fd)],"
        " {k: v for k, v in os.environ.items() if k.startswith('LISTEN_')}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], close_fds=False, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)
"""


def run_child(
    body: str,
    fds: Sequence[int | None],
    env: Mapping[str, str],
    *,
    prefix: list[str] | None = None,
    stdin: int | None = None,
) -> dict[str, Any]:
    """Run *body* in a child whose fds 3.. are *fds* and whose environment adds *env*."""
    spec = json.dumps({"fds": list(fds), "env": dict(env), "body": PRELUDE + body})
    child_env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": os.environ.get("PATH", "")}
    argv = [*(prefix or []), sys.executable, str(CHILD), spec]
    done = subprocess.run(
        argv,
        pass_fds=[fd for fd in fds if fd is not None],
        env=child_env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def me(fds: str, names: str | None = None, pid: str = "{pid}") -> dict[str, str]:
    env = {"LISTEN_PID": pid, "LISTEN_FDS": fds}
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    return env


def tcp(opened: list[socket.socket], *, listen: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    opened.append(sock)
    sock.bind(("127.0.0.1", 0))
    if listen:
        sock.listen()
    return sock


def udp6(opened: list[socket.socket]) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    opened.append(sock)
    sock.bind(("::1", 0))
    return sock


def unix(opened: list[socket.socket], kind: int, address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, kind)
    opened.append(sock)
    sock.bind(address)
    if kind != socket.SOCK_DGRAM:
        sock.listen()
    return sock
