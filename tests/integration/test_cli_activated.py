"""The command line end to end: inspect, exec and the demo, activated for real.

Activation comes from the real ``systemd-socket-activate`` and from a real systemd user manager
(``.socket`` units); requests come from the real ``curl``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import require_tool
from tests.integration.net import curl, free_port, poke
from tests.integration.report_child import read_report, report_command
from tests.integration.usermanager import UserManager, exec_quote

CLI = [sys.executable, "-m", "socket_activation"]


def test_inspect_json_under_systemd_socket_activate(short_tmp: str) -> None:
    """inspect reports each passed socket with its name, kind and canonical address."""
    sa = require_tool("systemd-socket-activate")
    port = free_port()
    path = f"{short_tmp}/app.sock"
    proc = subprocess.Popen(
        [sa, "-l", f"127.0.0.1:{port}", "-l", path, "--fdname=web:unix", *CLI, "inspect", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    poke(port)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["sockets"] == [
        {
            "fd": 3,
            "name": "web",
            "source": "systemd",
            "kind": "tcp",
            "address": f"127.0.0.1:{port}",
            "listening": True,
        },
        {
            "fd": 4,
            "name": "unix",
            "source": "systemd",
            "kind": "unix-stream",
            "address": path,
            "listening": True,
        },
    ]


def test_inspect_explains_a_pid_mismatch() -> None:
    """LISTEN_* meant for another process: nothing taken, the note says why."""
    port = free_port()
    env = {**os.environ, "LISTEN_PID": "1", "LISTEN_FDS": "1"}
    out = subprocess.run(
        [*CLI, "inspect", "--json", "--listen", f"127.0.0.1:{port}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    report = json.loads(out)
    assert [(s["source"], s["address"]) for s in report["sockets"]] == [
        ("bound", f"127.0.0.1:{port}")
    ]
    assert any("LISTEN_PID=1" in note for note in report["notes"]), report["notes"]


def test_inspect_table_names_a_closed_fd() -> None:
    """An fd 3 closed by an entrypoint gets a pointed note, not 'not a socket'."""
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_FDNAMES": "web"}
    code = (
        "import os, sys; os.environ['LISTEN_PID'] = str(os.getpid()); "
        "from socket_activation.cli import main; "
        f"sys.exit(main(['inspect', '--listen', '127.0.0.1:{free_port()}']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "fd 3 ('web') is not open — did an entrypoint script close it?" in out
    assert "bound" in out


def test_exec_passes_sockets_like_systemd(tmp_path: Path) -> None:
    """exec binds --listen/--listen-datagram in argv order and execs with LISTEN_* at 3.."""
    out = tmp_path / "report.json"
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    subprocess.run(
        [
            *CLI,
            "exec",
            "--listen",
            f"127.0.0.1:{tcp}",
            "--listen-datagram",
            f"127.0.0.1:{udp}",
            "--fdname",
            "web:quic",
            "--",
            *report_command(out),
        ],
        check=True,
        timeout=30,
    )
    report = read_report(out)
    assert report["env"]["LISTEN_FDS"] == "2"
    assert report["env"]["LISTEN_FDNAMES"] == "web:quic"
    assert report["env"]["LISTEN_PID"] == str(report["pid"])
    assert [(f["fd"], f["name"], f["kind"], f["address"]) for f in report["fds"]] == [
        (3, "web", "tcp", f"127.0.0.1:{tcp}"),
        (4, "quic", "udp", f"127.0.0.1:{udp}"),
    ]


def test_exec_passes_inherited_sockets_through(tmp_path: Path) -> None:
    """exec run under systemd-socket-activate hands the inherited socket on unchanged."""
    sa = require_tool("systemd-socket-activate")
    out = tmp_path / "report.json"
    port = free_port()
    child = subprocess.Popen(
        [sa, "-l", f"127.0.0.1:{port}", "--fdname=web", *CLI, "exec", "--", *report_command(out)]
    )
    poke(port)
    assert child.wait(timeout=30) == 0
    report = read_report(out)
    assert [(f["fd"], f["name"], f["kind"], f["address"]) for f in report["fds"]] == [
        (3, "web", "tcp", f"127.0.0.1:{port}")
    ]


def test_demo_serves_curl_under_systemd_socket_activate(
    processes: list[subprocess.Popen[str]],
) -> None:
    """The demo answers curl on the socket systemd-socket-activate passed, and says so."""
    sa = require_tool("systemd-socket-activate")
    port = free_port()
    proc = subprocess.Popen(
        [sa, "-l", f"127.0.0.1:{port}", "--fdname=web", *CLI, "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    answer = curl(f"http://127.0.0.1:{port}/")
    assert answer["source"] == "systemd"
    assert answer["name"] == "web"
    assert answer["fd"] == 3
    assert answer["address"] == f"127.0.0.1:{port}"


def test_demo_on_demand_serves_then_exits_when_idle(
    processes: list[subprocess.Popen[str]],
) -> None:
    """demo --exit-idle-time 1 on a passed socket: it answers, then, idle for 1 s, sends
    STOPPING=1 and exits 0 by itself, saying the manager holds the socket."""
    sa = require_tool("systemd-socket-activate")
    port = free_port()
    proc = subprocess.Popen(
        [sa, "-l", f"127.0.0.1:{port}", "--fdname=web", *CLI, "demo", "--exit-idle-time", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    answer = curl(f"http://127.0.0.1:{port}/")
    assert (answer["source"], answer["fd"]) == ("systemd", 3)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "until idle for 1 s" in out
    assert "idle: stopped; the service manager holds the socket" in out


def test_demo_on_demand_refuses_what_it_cannot_serve_on_demand(
    processes: list[subprocess.Popen[str]],
) -> None:
    """A socket the demo bound itself (closing it would reset queued connections), and more
    than one socket: refused, naming --exit-idle-time, no traceback."""
    bound = subprocess.run(
        [*CLI, "demo", "--exit-idle-time", "1", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bound.returncode == 65
    assert "--exit-idle-time" in bound.stderr
    assert "needs sockets a service manager holds" in bound.stderr
    assert "Traceback" not in bound.stderr
    sa = require_tool("systemd-socket-activate")
    one, two = free_port(), free_port()
    proc = subprocess.Popen(
        [sa, "-l", f"127.0.0.1:{one}", "-l", f"127.0.0.1:{two}", *CLI, "demo",
         "--exit-idle-time", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    processes.append(proc)
    poke(one)  # systemd-socket-activate starts the demo on the first connection
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 65, err
    assert "serves one listening stream socket on demand, got: tcp fd 3, tcp fd 4" in err
    assert "Traceback" not in err


def test_demo_binds_its_default_and_serves_curl(processes: list[subprocess.Popen[str]]) -> None:
    """Not activated, the demo binds what it is told and answers as 'bound'."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "demo", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    answer = curl(f"http://127.0.0.1:{port}/")
    assert (answer["source"], answer["kind"]) == ("bound", "tcp")
    assert proc.stdout is not None
    assert f"curl http://127.0.0.1:{port}/" in proc.stdout.readline() + proc.stdout.readline()


def test_demo_under_a_user_manager_socket_unit(
    user_manager: UserManager, user_units: str, short_tmp: str
) -> None:
    """A .socket unit with TCP and Unix lines + a Type=notify demo service: both answer curl."""
    port = free_port()
    path = f"{short_tmp}/demo.sock"
    user_manager.write_unit(
        f"{user_units}-demo.socket",
        f"[Socket]\nListenStream=127.0.0.1:{port}\nListenStream={path}\nFileDescriptorName=demo\n",
    )
    user_manager.write_unit(
        f"{user_units}-demo.service",
        "[Service]\nType=notify\n"
        f"ExecStart={exec_quote(sys.executable, '-m', 'socket_activation', 'demo')}\n",
    )
    user_manager.daemon_reload()
    user_manager.systemctl("start", f"{user_units}-demo.socket")
    tcp = curl(f"http://127.0.0.1:{port}/", timeout=20)
    unix = curl("--unix-socket", path, "http://localhost/", timeout=20)
    assert (tcp["source"], tcp["name"], tcp["fd"], tcp["kind"]) == ("systemd", "demo", 3, "tcp")
    assert (unix["source"], unix["fd"], unix["kind"], unix["address"]) == (
        "systemd",
        4,
        "unix-stream",
        path,
    )
    user_manager.wait_for(f"{user_units}-demo.service", "ActiveState", "active")
    status = user_manager.show(f"{user_units}-demo.service", "StatusText")["StatusText"]
    assert status == "serving 2 socket(s)"


def test_inspect_as_a_service_of_two_socket_units(
    user_manager: UserManager, user_units: str, short_tmp: str, tmp_path: Path
) -> None:
    """Under a real user manager, the resolver reports every socket of a unit with several
    Listen*= lines and of a second, named unit: right name, kind, address, in unit order."""
    tcp, udp, metrics = free_port(), free_port(socket.SOCK_DGRAM), free_port()
    out = tmp_path / "inspect.json"
    user_manager.write_unit(
        f"{user_units}-app.socket",
        f"[Socket]\nListenStream=127.0.0.1:{tcp}\nListenDatagram=127.0.0.1:{udp}\n"
        f"ListenStream={short_tmp}/app.sock\nFileDescriptorName=web\n"
        f"Service={user_units}-app.service\n",
    )
    user_manager.write_unit(
        f"{user_units}-metrics.socket",
        f"[Socket]\nListenStream=127.0.0.1:{metrics}\nFileDescriptorName=metrics\n"
        f"Service={user_units}-app.service\n",
    )
    command = exec_quote(sys.executable, "-m", "socket_activation", "inspect", "--json")
    # The service must BE inspect: a `sh -c '... > file'` wrapper forks, and LISTEN_PID would
    # name the shell (inspect then rightly reports "not this process").
    user_manager.write_unit(
        f"{user_units}-app.service",
        f"[Service]\nExecStart={command}\nStandardOutput=truncate:{out}\n",
    )
    user_manager.daemon_reload()
    user_manager.systemctl("start", f"{user_units}-app.socket", f"{user_units}-metrics.socket")
    poke(tcp)
    deadline = time.monotonic() + 20
    while not (out.exists() and out.read_text().endswith("\n")):
        assert time.monotonic() < deadline, user_manager.log(40)
        time.sleep(0.05)
    report = json.loads(out.read_text())
    seen = [(s["name"], s["kind"], s["address"], s["source"]) for s in report["sockets"]]
    assert [s for s in seen if s[0] == "web"] == [
        ("web", "tcp", f"127.0.0.1:{tcp}", "systemd"),
        ("web", "udp", f"127.0.0.1:{udp}", "systemd"),
        ("web", "unix-stream", f"{short_tmp}/app.sock", "systemd"),
    ]
    assert [s for s in seen if s[0] == "metrics"] == [
        ("metrics", "tcp", f"127.0.0.1:{metrics}", "systemd")
    ]
    assert len(seen) == 4
    assert sorted(s["fd"] for s in report["sockets"]) == [3, 4, 5, 6]
