"""The sandboxed user manager harness, and what real systemd 252 does with socket units.

These are the protocol facts the rest of the suite leans on: which fds a socket-activated
service receives, with which names, in which order (R57, R70, R78), how ``systemctl show``
spells Listen*= addresses (R62-R69), what ``systemd-analyze verify`` refuses (R72), and that
the sandbox leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import require_user_manager_sandbox
from tests.integration.report_child import read_report, report_command
from tests.integration.usermanager import (
    ManagerStartError,
    UnitVerifyError,
    UserManager,
    exec_quote,
    leftover_cgroups,
    parse_listen,
    parse_show,
)

pytestmark = pytest.mark.integration


def free_port(kind: socket.SocketKind) -> int:
    """A port on 127.0.0.1 that was free a moment ago (for units that bind it themselves)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- pure helpers (no manager needed) --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A=1\nB=\n", {"A": "1", "B": ""}, id="empty-value-kept"),
        pytest.param(
            "ExecStart={ path=/x ; argv[]=/x a=b }",
            {"ExecStart": "{ path=/x ; argv[]=/x a=b }"},
            id="split-on-first-equals",
        ),
        pytest.param(
            "Listen=a (Stream)\nListen=b (Datagram)",
            {"Listen": "a (Stream)\nb (Datagram)"},
            id="repeated-key-joined-in-order",
        ),
    ],
)
def test_parse_show_reads_key_value_lines(text: str, expected: dict[str, str]) -> None:
    """``systemctl show`` output becomes a dict; repeated keys keep every value, in order."""
    assert parse_show(text) == expected


def test_parse_show_rejects_a_line_without_equals() -> None:
    """A line that is not Key=value is an error, not silently dropped."""
    with pytest.raises(ValueError, match="without '='"):
        parse_show("A=1\nnonsense\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("127.0.0.1:80 (Stream)", [("Stream", "127.0.0.1:80")], id="tcp"),
        pytest.param("[::1]:80%lo (Stream)", [("Stream", "[::1]:80%lo")], id="scoped-v6"),
        pytest.param(
            "/run/a b.sock (SequentialPacket)",
            [("SequentialPacket", "/run/a b.sock")],
            id="path-with-space",
        ),
        pytest.param(
            "/f (FIFO)\n@x (Datagram)", [("FIFO", "/f"), ("Datagram", "@x")], id="several-in-order"
        ),
        pytest.param("", [], id="none"),
    ],
)
def test_parse_listen_splits_address_and_type(value: str, expected: list[tuple[str, str]]) -> None:
    """The Listen property becomes (type, address) pairs in unit order."""
    assert parse_listen(value) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["/bin/echo", "a"], "/bin/echo a", id="plain"),
        pytest.param(["/bin/echo", "a b"], '/bin/echo "a b"', id="space-quoted"),
        pytest.param(["/bin/echo", "50%"], "/bin/echo 50%%", id="percent-doubled"),
        pytest.param(["/bin/echo", "$HOME"], '/bin/echo "$$HOME"', id="dollar-doubled"),
        pytest.param(
            ["/bin/echo", 'say "hi"\\'], '/bin/echo "say \\"hi\\"\\\\"', id="quote-backslash"
        ),
        pytest.param(["/bin/echo", ""], '/bin/echo ""', id="empty-arg"),
    ],
)
def test_exec_quote_spells_an_execstart_line(argv: list[str], expected: str) -> None:
    """exec_quote escapes what systemd would otherwise expand or split."""
    assert exec_quote(*argv) == expected


# -- the real manager ------------------------------------------------------------------------


def write_socket_pair(
    um: UserManager, prefix: str, *, tcp: int, udp: int, unix_path: str, metrics: int, out: Path
) -> None:
    """`{prefix}-app.socket` (three Listen lines) + `{prefix}-metrics.socket` -> app.service."""
    um.write_unit(
        f"{prefix}-app.socket",
        f"[Socket]\nListenStream=127.0.0.1:{tcp}\nListenDatagram=127.0.0.1:{udp}\n"
        f"ListenStream={unix_path}\n",
    )
    um.write_unit(
        f"{prefix}-metrics.socket",
        f"[Socket]\nListenStream=127.0.0.1:{metrics}\nFileDescriptorName=metrics\n"
        f"Service={prefix}-app.service\n",
    )
    um.write_unit(
        f"{prefix}-app.service",
        f"[Service]\nExecStart={exec_quote(*report_command(out, '--stay'))}\n",
    )
    um.daemon_reload()


def test_socket_activated_service_gets_every_fd_named_and_in_line_order(
    user_manager: UserManager, user_units: str, short_tmp: str
) -> None:
    """A connection to one of two socket units starts the service with the fds of both.

    R57: LISTEN_FDS counts all of them, LISTEN_PID is the service's own PID, LISTEN_FDNAMES
    names each fd (default "<unit>.socket", R78; FileDescriptorName= otherwise). R70: within a
    unit the fds follow the Listen*= lines, types mixed; across units only the grouping holds.
    """
    um, prefix = user_manager, user_units
    tcp, udp, metrics = (
        free_port(socket.SOCK_STREAM),
        free_port(socket.SOCK_DGRAM),
        free_port(socket.SOCK_STREAM),
    )
    unix_path = f"{short_tmp}/x.sock"
    out = Path(short_tmp) / "report.json"
    write_socket_pair(um, prefix, tcp=tcp, udp=udp, unix_path=unix_path, metrics=metrics, out=out)
    um.systemctl("start", f"{prefix}-app.socket", f"{prefix}-metrics.socket")
    um.wait_for(f"{prefix}-app.socket", "SubState", "listening")

    with socket.create_connection(("127.0.0.1", tcp), timeout=5):
        report = read_report(out)
    um.wait_for(f"{prefix}-app.service", "ActiveState", "active")

    env, fds = report["env"], report["fds"]
    assert env["LISTEN_FDS"] == "4"
    assert env["LISTEN_PID"] == str(report["pid"])
    assert [fd["fd"] for fd in fds] == [3, 4, 5, 6]
    assert env["LISTEN_FDNAMES"] == ":".join(fd["name"] for fd in fds)
    by_unit: dict[str, list[tuple[str, bool, str]]] = {}
    for fd in fds:  # already in fd order
        by_unit.setdefault(fd["name"], []).append((fd["kind"], fd["listening"], fd["address"]))
    assert by_unit == {
        f"{prefix}-app.socket": [
            ("tcp", True, f"127.0.0.1:{tcp}"),
            ("udp", False, f"127.0.0.1:{udp}"),
            ("unix-stream", True, unix_path),
        ],
        "metrics": [("tcp", True, f"127.0.0.1:{metrics}")],
    }
    assert all(fd["inheritable"] for fd in fds), "systemd passes the fds without O_CLOEXEC"
    assert report["sockinfo"], "the service's interpreter imports socket_activation"
    main_pid = int(um.show(f"{prefix}-app.service", "MainPID")["MainPID"])
    assert main_pid == report["pid"], "LISTEN_PID and MainPID are the same namespace PID"
    host_pid = um.host_pid(main_pid)
    assert b"report_child.py" in Path(f"/proc/{host_pid}/cmdline").read_bytes()


def test_show_listen_lists_a_units_addresses_in_line_order(
    user_manager: UserManager, user_units: str, short_tmp: str
) -> None:
    """``systemctl show -p Listen`` prints one "ADDRESS (TYPE)" per Listen*= line, in order."""
    um, prefix = user_manager, user_units
    tcp, udp, metrics = 40001, 40002, 40003  # never bound: the sockets are not started
    unix_path = f"{short_tmp}/x.sock"
    out = Path(short_tmp) / "unused"
    write_socket_pair(um, prefix, tcp=tcp, udp=udp, unix_path=unix_path, metrics=metrics, out=out)

    shown = um.show(f"{prefix}-app.socket", "Listen", "FileDescriptorName", "LoadState")

    assert shown["LoadState"] == "loaded"
    assert parse_listen(shown["Listen"]) == [
        ("Stream", f"127.0.0.1:{tcp}"),
        ("Datagram", f"127.0.0.1:{udp}"),
        ("Stream", unix_path),
    ]
    assert shown["FileDescriptorName"] == f"{prefix}-app.socket"
    assert um.show(f"{prefix}-metrics.socket", "FileDescriptorName") == {
        "FileDescriptorName": "metrics"
    }


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            "ListenStream=PORT", [("Stream", "[::]:PORT")], id="R63-port-only-is-dual-stack"
        ),
        pytest.param("ListenDatagram=[::1]:PORT", [("Datagram", "[::1]:PORT")], id="R64-v6"),
        pytest.param(
            "ListenStream=[::1]:PORT%%lo", [("Stream", "[::1]:PORT%lo")], id="R67-scope-needs-%%"
        ),
        pytest.param("ListenStream=@sa-abstract", [("Stream", "@sa-abstract")], id="R62-abstract"),
        pytest.param(
            "ListenSequentialPacket=/tmp/sa-q.sock",
            [("SequentialPacket", "/tmp/sa-q.sock")],
            id="R68-seqpacket",
        ),
        pytest.param(
            "ListenStream=127.0.0.1:1\nListenStream=\nListenStream=127.0.0.1:PORT",
            [("Stream", "127.0.0.1:PORT")],
            id="R69-empty-resets",
        ),
        pytest.param(
            "ListenStream=0\nListenStream=127.0.0.1:PORT",
            [("Stream", "127.0.0.1:PORT")],
            id="R65-invalid-ignored",
        ),
        pytest.param(
            "ListenFIFO=/tmp/sa-f\nListenStream=vsock:2:PORT",
            [("FIFO", "/tmp/sa-f"), ("Stream", "vsock:2:PORT")],
            id="R66-fifo-and-vsock",
        ),
    ],
)
def test_listen_lines_as_systemd_normalises_them(
    user_manager: UserManager, user_units: str, lines: str, expected: list[tuple[str, str]]
) -> None:
    """The manager's own reading of Listen*= lines (unit loaded, never started)."""
    um, name = user_manager, f"{user_units}-s.socket"
    um.write_unit(name, f"[Socket]\n{lines.replace('PORT', '40010')}\n")
    um.write_unit(f"{user_units}-s.service", "[Service]\nExecStart=/bin/true\n")
    um.daemon_reload()

    shown = um.show(name, "Listen", "LoadState")

    assert shown["LoadState"] == "loaded"
    assert parse_listen(shown["Listen"]) == [
        (kind, address.replace("PORT", "40010")) for kind, address in expected
    ]


def test_verify_accepts_a_good_socket_unit(user_manager: UserManager, user_units: str) -> None:
    """``systemd-analyze --user verify`` passes a socket unit with its service, saying nothing."""
    um = user_manager
    um.write_unit(f"{user_units}-ok.service", "[Service]\nExecStart=/bin/true\n")
    path = um.write_unit(f"{user_units}-ok.socket", "[Socket]\nListenStream=127.0.0.1:40020\n")

    assert um.verify(path) == ""


@pytest.mark.parametrize(
    ("socket_text", "service", "message"),
    [
        pytest.param(
            "ListenDatagram=127.0.0.1:40021\nAccept=yes\n",
            "-bad@.service",
            "sockets are non-accepting",
            id="R72-accept-with-datagram",
        ),
        pytest.param(
            "ListenStream=127.0.0.1:40022\n",
            None,
            "not loaded, socket cannot be started",
            id="socket-without-service",
        ),
        pytest.param(
            "ListenStream=[::1]:40023%lo\n",  # %l expands to the host name: no Listen left
            "-bad.service",
            "has no Listen setting",
            id="R67-unescaped-percent",
        ),
    ],
)
def test_verify_reports_a_bad_socket_unit(
    user_manager: UserManager,
    user_units: str,
    socket_text: str,
    service: str | None,
    message: str,
) -> None:
    """verify fails, and its output (carried by UnitVerifyError) says why."""
    um = user_manager
    if service is not None:
        um.write_unit(f"{user_units}{service}", "[Service]\nExecStart=/bin/true\n")
    path = um.write_unit(f"{user_units}-bad.socket", f"[Socket]\n{socket_text}")

    with pytest.raises(UnitVerifyError) as caught:
        um.verify(path)

    assert message in caught.value.output
    assert caught.value.returncode != 0


def test_exec_quote_round_trips_through_a_real_execstart(
    user_manager: UserManager, user_units: str, short_tmp: str
) -> None:
    """Arguments with spaces, quotes, %, $ and backslashes reach the process unchanged."""
    um = user_manager
    out = Path(short_tmp) / "argv.json"
    args = ["a b", 'q"uote', "50%n", "$HOME ${X}", "back\\slash", ""]
    code = "import json,sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"
    um.write_unit(
        f"{user_units}-argv.service",
        "[Service]\nType=oneshot\n"
        f"ExecStart={exec_quote(sys.executable, '-c', code, out, *args)}\n",
    )
    um.daemon_reload()

    um.systemctl("start", f"{user_units}-argv.service")

    assert json.loads(out.read_text()) == args


def test_a_manager_that_cannot_start_raises_with_its_log() -> None:
    """ManagerStartError carries what systemd said, and the failed sandbox is cleaned up."""
    require_user_manager_sandbox()
    before = set(own_cgroups())

    with (
        pytest.raises(ManagerStartError, match="unrecognized option"),
        UserManager.start(manager_args=["--no-such-option"]),
    ):
        pytest.fail("the manager started with a bogus option")

    assert set(own_cgroups()) <= before, "only the session's sandbox (if any) remains"


# -- cleanup -----------------------------------------------------------------------------------


def own_cgroups() -> list[Path]:
    """Stray init.scope dirs and the sandbox cgroups of this test process."""
    mine = f"sdum-{os.getpid()}-"
    return [p for p in leftover_cgroups() if p.name == "init.scope" or p.name.startswith(mine)]


def cgroup_pids(cgroups: list[Path]) -> list[int]:
    """Host PIDs of every process in these cgroups and their children."""
    pids: list[int] = []
    for cgroup in cgroups:
        for procs in cgroup.rglob("cgroup.procs"):
            pids += [int(p) for p in procs.read_text().split()]
    return sorted(set(pids))


def test_stopping_the_manager_removes_its_processes_cgroups_and_files() -> None:
    """After the context exits: no process, no sub-cgroup, no init.scope, no state dir left."""
    require_user_manager_sandbox()
    with UserManager.start() as um:
        um.write_unit("sleeper.service", "[Service]\nExecStart=/bin/sleep 60\n")
        um.daemon_reload()
        um.systemctl("start", "sleeper.service")
        pids = cgroup_pids(um.cgroup_dirs)
        cgroups, state = list(um.cgroup_dirs), um.state_dir
        assert len(pids) >= 3, "init, manager and sleeper live in the sandbox cgroups"
        assert (cgroups[0] / "init.scope").is_dir(), "the manager's init.scope is inside"

    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not [path for path in cgroups if path.exists()]
    assert not [p for p in leftover_cgroups() if p.name == "init.scope" or p in cgroups]
    assert not state.exists()
    assert um.stop_exit_code == 0, "the manager exited on `systemctl --user exit`"


_ORPHAN_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from tests.integration.usermanager import UserManager
with UserManager.start() as um:
    print(um.tag, um.state_dir, flush=True)
    time.sleep(60)
"""


def test_a_killed_test_process_takes_its_manager_down() -> None:
    """SIGKILL of the test process kills the whole sandbox; the next start sweeps its cgroups.

    The parent-death signal reaches unshare, whose --kill-child ends the namespace's init and
    so every process of the PID namespace; only empty cgroups remain, which UserManager.start
    removes because their owner's PID is gone.
    """
    require_user_manager_sandbox()
    root = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT.format(root=root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    with child.stdout:
        try:
            tag, state = child.stdout.readline().split()
            cgroups = [p for p in leftover_cgroups() if p.name == tag]
            pids = cgroup_pids(cgroups)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert cgroups, "the killed process had a running sandbox"
    assert len(pids) >= 2, "init and manager were in its cgroups"

    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "sandbox processes died"

    assert Path(state).exists(), "nobody ran the killed process's cleanup"
    with UserManager.start():  # sweeps dead sandboxes first
        assert not [p for p in leftover_cgroups() if p.name == tag]
        assert not Path(state).exists()
