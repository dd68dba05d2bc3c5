"""Dev parity: `socket-activation exec --unit` hands an app what systemd itself would.

The same two socket units (one with four Listen*= lines of mixed types, one named `metrics`
for the same service) are given to a real systemd user manager and to `exec --unit`; the test
app reports the fds it received. Names, kinds, addresses and order must be equal (order within
a unit; systemd does not order fds across socket units, R70).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.integration.net import free_port, poke
from tests.integration.report_child import read_report, report_command
from tests.integration.usermanager import UserManager, exec_quote


def by_unit(report: dict[str, Any]) -> dict[str, list[tuple[str, str, bool]]]:
    """fd descriptions grouped by name (= socket unit), in fd order within each."""
    groups: dict[str, list[tuple[str, str, bool]]] = {}
    for fd in sorted(report["fds"], key=lambda f: int(f["fd"])):
        groups.setdefault(fd["name"], []).append((fd["kind"], fd["address"], fd["listening"]))
    return groups


def test_exec_unit_and_the_user_manager_pass_the_same_fds(
    user_manager: UserManager, user_units: str, short_tmp: str, tmp_path: Path
) -> None:
    """Same names, kinds, addresses and order from exec --unit as from systemd 252."""
    tcp, udp, metrics = free_port(), free_port(), free_port()
    abstract = f"sa-parity-{uuid.uuid4().hex[:8]}"
    app = (
        "[Socket]\n"
        f"ListenStream=127.0.0.1:{tcp}\n"
        f"ListenDatagram=127.0.0.1:{udp}\n"
        f"ListenStream={short_tmp}/app.sock\n"
        f"ListenSequentialPacket=@{abstract}\n"
        "FileDescriptorName=app\n"
        f"Service={user_units}-app.service\n"
    )
    extra = (
        "[Socket]\n"
        f"ListenStream=127.0.0.1:{metrics}\n"
        "FileDescriptorName=metrics\n"
        f"Service={user_units}-app.service\n"
    )
    manager_out = tmp_path / "manager.json"
    app_unit = user_manager.write_unit(f"{user_units}-app.socket", app)
    extra_unit = user_manager.write_unit(f"{user_units}-metrics.socket", extra)
    user_manager.write_unit(
        f"{user_units}-app.service",
        f"[Service]\nExecStart={exec_quote(*report_command(manager_out, '--stay'))}\n",
    )
    user_manager.daemon_reload()
    user_manager.systemctl("start", f"{user_units}-app.socket", f"{user_units}-metrics.socket")
    poke(tcp)
    from_systemd = read_report(manager_out, timeout=20)
    user_manager.systemctl(
        "stop",
        f"{user_units}-app.service",
        f"{user_units}-app.socket",
        f"{user_units}-metrics.socket",
    )

    exec_out = tmp_path / "exec.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "socket_activation",
            "exec",
            "--unit",
            str(app_unit),
            "--unit",
            str(extra_unit),
            "--",
            *report_command(exec_out),
        ],
        check=True,
        timeout=30,
    )
    from_exec = read_report(exec_out)

    assert by_unit(from_exec) == by_unit(from_systemd)
    assert by_unit(from_systemd)["app"] == [
        ("tcp", f"127.0.0.1:{tcp}", True),
        ("udp", f"127.0.0.1:{udp}", False),
        ("unix-stream", f"{short_tmp}/app.sock", True),
        ("unix-seqpacket", f"@{abstract}", True),
    ]
    assert from_exec["env"]["LISTEN_FDS"] == from_systemd["env"]["LISTEN_FDS"] == "5"
    assert from_exec["env"]["LISTEN_PID"] == str(from_exec["pid"])
