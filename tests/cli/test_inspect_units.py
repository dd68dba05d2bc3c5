"""``inspect`` of unit files: --no-bind, the notes a unit gives, Accept=yes, template instances."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "socket_activation"]


@pytest.fixture
def d() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sa-iu-", dir="/tmp") as tmp:
        yield Path(tmp)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=30, check=False, env=env
    )


def test_no_bind_shows_what_a_unit_would_bind_and_binds_nothing(d: Path) -> None:
    """A port already in use and a path in a missing directory: shown, nothing bound or made."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        unit = d / "web.socket"
        unit.write_text(
            f"[Socket]\nListenStream=127.0.0.1:{port}\nListenStream={d}/run/web.sock\n"
            "FileDescriptorName=web\nBacklog=16\nSocketMode=0600\nBindIPv6Only=yes\n"
        )
        done = run("inspect", "--no-bind", "--json", "--unit", str(unit))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sockets"] == [
        {
            "name": "web",
            "kind": "tcp",
            "address": f"127.0.0.1:{port}",
            "options": {"backlog": 16, "bind_ipv6_only": "ipv6-only"},
        },
        {
            "name": "web",
            "kind": "unix-stream",
            "address": f"{d}/run/web.sock",
            "options": {"backlog": 16, "socket_mode": "0600", "directory_mode": "0755"},
        },
    ]
    assert not (d / "run").exists()


def test_inspect_shows_a_refused_option_and_the_units_notes(d: Path) -> None:
    """NoDelay=yes on a Unix socket: the kernel refuses TCP_NODELAY, systemd warns and binds;
    the note says so, as does the note on a FIFO port and on a directive not applied."""
    unit = d / "n.socket"
    unit.write_text(
        f"[Socket]\nListenStream={d}/n.sock\nListenFIFO={d}/n.fifo\nNoDelay=yes\n"
        "ExecStartPre=/bin/true\n"
    )
    done = run("inspect", "--unit", str(unit))
    assert done.returncode == 0, done.stderr
    assert f"{d}/n.sock" in done.stdout
    notes = [line for line in done.stdout.splitlines() if line.startswith("note: ")]
    assert f"note: {unit}:3: ListenFIFO=: not supported by socket-activation" in "\n".join(notes)
    assert f"note: {unit}:5: ExecStartPre=: not run by socket-activation (systemd would)" in notes
    assert any(f"{d}/n.sock: TCP_NODELAY failed, ignoring" in n for n in notes), notes
    assert not (d / "n.sock").exists()  # bound for the report, then closed and removed


def test_inspect_says_what_exec_does_with_an_accept_unit(d: Path) -> None:
    unit = d / "a.socket"
    unit.write_text(f"[Socket]\nListenStream={d}/a.sock\nAccept=yes\nMaxConnections=7\n")
    for args in (("--no-bind",), ()):
        done = run("inspect", *args, "--unit", str(unit))
        assert done.returncode == 0, done.stderr
        assert (
            "note: Accept=yes: exec accepts each connection and runs the command once per "
            "connection (fd 3 the connection, LISTEN_FDS=1, LISTEN_FDNAMES=connection, "
            "REMOTE_ADDR, REMOTE_PORT), at most 7 at once (MaxConnections=)"
        ) in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--unit", "{d}/tpl@web.socket"], id="instance-name"),
        pytest.param(["--unit", "{d}/tpl@.socket", "--instance", "web"], id="--instance"),
    ],
)
def test_a_template_loads_under_its_instance(d: Path, args: list[str]) -> None:
    """foo@bar.socket (only foo@.socket on disk) or --instance: %i and the name expand."""
    (d / "tpl@.socket").write_text(f"[Socket]\nListenStream={d}/%i.sock\n")
    done = run("inspect", "--no-bind", "--json", *[a.format(d=d) for a in args])
    assert done.returncode == 0, done.stderr
    (sock,) = json.loads(done.stdout)["sockets"]
    assert (sock["name"], sock["address"]) == ("tpl@web.socket", f"{d}/web.sock")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--unit", "{d}/tpl@.socket"], "tpl@.socket is a template", id="bare"),
        pytest.param(["--unit", "{d}/x.socket", "--instance", "a"], "needs a template", id="x"),
        pytest.param(["--instance", "a"], "needs a template --unit", id="no-unit"),
    ],
)
def test_instance_mistakes_are_clear_errors(d: Path, args: list[str], message: str) -> None:
    (d / "tpl@.socket").write_text(f"[Socket]\nListenStream={d}/%i.sock\n")
    (d / "x.socket").write_text(f"[Socket]\nListenStream={d}/x.sock\n")
    done = run("inspect", "--no-bind", *[a.format(d=d) for a in args])
    assert done.returncode == 65
    assert message in done.stderr
    assert "Traceback" not in done.stderr
