"""``exec --unit`` of an ``Accept=yes`` unit: one process per connection, systemd's environment.

The same child runs under ``socket-activation exec --unit`` and under
``systemd-socket-activate --accept`` (R90); for each connection both give fd 3 as the connected
socket (same family, type, blocking mode, peer) with ``LISTEN_FDS=1`` and ``LISTEN_PID`` the
child's own pid. We also set what the manager itself sets and systemd-socket-activate does not
(R71): ``LISTEN_FDNAMES=connection`` (systemd-socket-activate only with ``--fdname``),
``REMOTE_ADDR`` and ``REMOTE_PORT``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "socket_activation"]
# the child reports what it got on fd 3, then holds the connection until the client closes it
CHILD = r"""
import fcntl, json, os, socket
s = socket.socket(fileno=3)
report = {
    "pid": os.getpid(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("LISTEN_", "REMOTE_"))},
    "family": s.family.name, "type": s.type.name,
    "listening": s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
    "nonblocking": bool(fcntl.fcntl(3, fcntl.F_GETFL) & os.O_NONBLOCK),
    "peer": list(s.getpeername()), "fds": [],
}
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
    try:
        os.fstat(fd)  # the directory listdir read is closed by now
    except OSError:
        continue
    report["fds"].append(fd)
s.sendall(json.dumps(report).encode() + b"\n")
while s.recv(64):
    pass
"""
# a lighter child for many connections at once: one line, then wait for the client to close
SH_CHILD = (
    'echo "$LISTEN_FDS $LISTEN_PID $$ $LISTEN_FDNAMES $REMOTE_ADDR $REMOTE_PORT" >&3; cat <&3'
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _listening(port: int) -> bool:
    """A TCP socket in LISTEN state on *port* (read from /proc: a probe connection would
    itself start a child and count against MaxConnections=)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(
        line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A" for line in lines
    )


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        if _listening(port):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def _running(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _unit(tmp_path: Path, port: int, extra: str = "") -> Path:
    path = tmp_path / "echo.socket"
    path.write_text(f"[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n{extra}")
    return path


def _readline(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _report(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        report: dict[str, object] = json.loads(_readline(conn))
        report["client"] = list(conn.getsockname())
    return report


def test_each_connection_gets_what_systemd_socket_activate_gives(tmp_path: Path) -> None:
    """fd 3 and LISTEN_* as under systemd-socket-activate -a; plus the manager's names."""
    tool = require_tool("systemd-socket-activate")
    ours_port, theirs_port = _free_port(), _free_port()
    child = [sys.executable, "-c", CHILD]
    with _running([*CLI, "exec", "--unit", str(_unit(tmp_path, ours_port)), "--", *child],
                  ours_port):  # fmt: skip
        ours = _report(ours_port)
    with _running([tool, "-a", "-l", f"127.0.0.1:{theirs_port}", "--fdname=connection", *child],
                  theirs_port):  # fmt: skip
        theirs = _report(theirs_port)
    for report in (ours, theirs):
        assert report["peer"] == report["client"]
        env = report["env"]
        assert isinstance(env, dict)
        assert env["LISTEN_PID"] == str(report["pid"])
        assert report["fds"] == [0, 1, 2, 3]
    same = ("family", "type", "listening", "nonblocking", "fds")
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
    assert ours["listening"] == 0
    ours_env, theirs_env = ours["env"], theirs["env"]
    assert isinstance(ours_env, dict)
    assert isinstance(theirs_env, dict)
    assert {k: v for k, v in ours_env.items() if not k.startswith("REMOTE_")} == {
        **theirs_env,
        "LISTEN_PID": str(ours["pid"]),
    }
    client = ours["client"]
    assert isinstance(client, list)
    assert ours_env["REMOTE_ADDR"] == "127.0.0.1"
    assert ours_env["REMOTE_PORT"] == str(client[1])


def test_fifty_concurrent_connections_are_fifty_processes(tmp_path: Path) -> None:
    """50 connections held open at once: 50 distinct children, each with LISTEN_PID its own pid,
    LISTEN_FDNAMES=connection and its own peer in REMOTE_ADDR/REMOTE_PORT."""
    port = _free_port()
    unit = _unit(tmp_path, port, "MaxConnections=64\n")
    with _running([*CLI, "exec", "--unit", str(unit), "--", "sh", "-c", SH_CHILD], port):
        conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(50)]
        try:
            lines = [_readline(c).decode().split() for c in conns]
            ports = [str(c.getsockname()[1]) for c in conns]
        finally:
            for c in conns:
                c.close()
    assert all(len(line) == 6 for line in lines), lines
    assert [line[0] for line in lines] == ["1"] * 50
    assert all(line[1] == line[2] for line in lines)  # LISTEN_PID is the child's own pid
    assert len({line[1] for line in lines}) == 50
    assert {line[3] for line in lines} == {"connection"}
    assert {line[4] for line in lines} == {"127.0.0.1"}
    assert [line[5] for line in lines] == ports


def test_max_connections_drops_the_connection_beyond_it(tmp_path: Path) -> None:
    """MaxConnections=2: while two children run, a third connection is closed at once."""
    port = _free_port()
    unit = _unit(tmp_path, port, "MaxConnections=2\n")
    with _running([*CLI, "exec", "--unit", str(unit), "--", "sh", "-c", SH_CHILD], port) as proc:
        first = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(2)]
        try:
            assert all(_readline(c) for c in first)
            with socket.create_connection(("127.0.0.1", port), timeout=15) as third:
                assert _readline(third) == b""
        finally:
            for c in first:
                c.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the two children exit; a new one is served
            with socket.create_connection(("127.0.0.1", port), timeout=15) as again:
                if _readline(again):
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("no connection served after the first two closed")
        assert proc.poll() is None
    assert os.path.exists(unit)
