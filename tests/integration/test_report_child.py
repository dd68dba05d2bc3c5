"""The fd-report child that services and exec'd children run: what it says about its fds."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.integration.report_child import read_report, report_command


def test_report_describes_passed_sockets_with_their_names(tmp_path: Path) -> None:
    """Each listed fd gets its LISTEN_FDNAMES name, kind, listening flag and canonical address."""
    out = tmp_path / "r.json"
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp,
    ):
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("::1", 0))
        fds = f"{tcp.fileno()},{udp.fileno()}"
        env = {**os.environ, "LISTEN_FDS": "2", "LISTEN_FDNAMES": "web:dns"}
        env.pop("LISTEN_PID", None)
        subprocess.run(
            report_command(out, "--fds", fds),
            pass_fds=(tcp.fileno(), udp.fileno()),
            env=env,
            check=True,
            timeout=30,
        )
        tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]

    report = read_report(out)

    assert report["env"] == {"LISTEN_PID": None, "LISTEN_FDS": "2", "LISTEN_FDNAMES": "web:dns"}
    assert report["sockinfo"] is True
    entries = [
        (e["name"], e["family"], e["type"], e["kind"], e["listening"], e["address"])
        for e in report["fds"]
    ]
    assert entries == [
        ("web", "AF_INET", "SOCK_STREAM", "tcp", True, f"127.0.0.1:{tcp_port}"),
        ("dns", "AF_INET6", "SOCK_DGRAM", "udp", False, f"[::1]:{udp_port}"),
    ]
    assert all(e["inheritable"] and e["error"] is None for e in report["fds"])


def test_report_says_what_a_non_socket_or_closed_fd_is(tmp_path: Path) -> None:
    """A pipe is "not a socket", a closed fd "not open"; neither gets socket fields."""
    out = tmp_path / "r.json"
    read_end, write_end = os.pipe()
    try:
        closed = os.dup(read_end)
        os.close(closed)
        subprocess.run(
            report_command(out, "--fds", f"{read_end},{closed}"),
            pass_fds=(read_end,),
            check=True,
            timeout=30,
        )
    finally:
        os.close(read_end)
        os.close(write_end)

    pipe, gone = read_report(out)["fds"]

    assert pipe["error"].startswith("not a socket")
    assert gone["error"].startswith("not open")
    assert pipe["kind"] is None
    assert gone["address"] is None


def test_report_lists_fds_from_3_by_listen_fds_when_none_are_named(tmp_path: Path) -> None:
    """Without --fds the child describes 3..3+LISTEN_FDS-1, the protocol's range."""
    out = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    env["LISTEN_FDS"] = "2"
    subprocess.run(report_command(out), env=env, check=True, timeout=30)

    report = read_report(out)

    assert [e["fd"] for e in report["fds"]] == [3, 4]
    assert [e["name"] for e in report["fds"]] == [None, None]
    assert all(e["error"].startswith("not open") for e in report["fds"]), "close_fds closed them"
