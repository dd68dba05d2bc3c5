"""supervise's early start, end to end under the real ``systemd-socket-activate``.

Each test runs the console script (what ``socket-activation units`` writes into ``ExecStart=``)
with a socket systemd-socket-activate passed, once on the early path and, where the behaviour
must be the same, once on the normal path: ``--trust-pid1`` (which changes nothing when
``LISTEN_PID`` is ours) is an option the early scan does not take, so it forces the normal path.
The child (tests/support/early_child.py) reports what it got.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import require_tool
from tests.integration.net import free_port, poke
from tests.support.notify_manager import abstract_manager

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("socket-activation"))
CHILD = [sys.executable, str(Path(__file__).resolve().parents[1] / "support" / "early_child.py")]
EARLY = "(early start)"
# a signal nobody here handles: blocked in supervise's original mask, so the child must get it
_PARENT_MASK = {signal.SIGPWR}
_SIGPWR_BIT = f"{1 << (signal.SIGPWR - 1):016x}"


def _supervise(
    args: list[str],
    *,
    names: str = "web",
    setenv: dict[str, str] | None = None,
    mask: bool = False,
) -> subprocess.Popen[str]:
    """supervise *args* under systemd-socket-activate, which passes on only the variables
    ``-E`` names (*setenv*) besides LISTEN_*."""
    sa = require_tool("systemd-socket-activate")
    port = free_port()
    cmd = [sa, "-l", f"127.0.0.1:{port}"]
    cmd.extend(f"-E{key}={value}" for key, value in (setenv or {}).items())
    if names:
        cmd.append(f"--fdname={names}")
    # a child inherits the mask of the thread that starts it: block SIGPWR around the start
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_MASK if mask else set())
    try:
        proc = subprocess.Popen(
            [*cmd, CONSOLE_SCRIPT, "supervise", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    poke(port)  # systemd-socket-activate execs supervise on the first connection
    return proc


def _reports(directory: Path, count: int, timeout: float = 20) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(directory.glob("report-*.json"), key=lambda p: p.stat().st_mtime)
        if len(found) >= count:
            return [json.loads(p.read_text()) for p in found]
        time.sleep(0.02)
    raise AssertionError(
        f"{count} report(s) expected in {directory}, got {list(directory.iterdir())}"
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    return proc.returncode, err


def _run_child(
    tmp: Path, extra: list[str], child_flags: list[str], **kw: object
) -> tuple[dict[str, object], str, int]:
    proc = _supervise([*extra, "--ready", "started", "--", *CHILD, str(tmp), *child_flags], **kw)  # type: ignore[arg-type]
    try:
        report = _reports(tmp, 1)[0]
    finally:
        status, err = _stop(proc)
    return report, err, status


def test_early_path_gives_the_child_what_the_normal_path_gives(tmp_path: Path) -> None:
    """LISTEN_PID is the child's pid, LISTEN_FDS/LISTEN_FDNAMES/the fds and the environment are
    the normal path's, NOTIFY_SOCKET is a socket of ours, and the child's signal mask is
    supervise's original one (here: SIGPWR blocked), not the early start's."""
    early_dir, normal_dir = tmp_path / "early", tmp_path / "normal"
    early_dir.mkdir()
    normal_dir.mkdir()
    early, early_err, _ = _run_child(early_dir, [], ["--stay"], mask=True)
    normal, normal_err, _ = _run_child(normal_dir, ["--trust-pid1"], ["--stay"], mask=True)
    assert EARLY in early_err, early_err
    assert EARLY not in normal_err, normal_err
    for report in (early, normal):
        env = report["env"]
        assert isinstance(env, dict)
        assert env["LISTEN_PID"] == str(report["pid"])
        assert env["LISTEN_FDS"] == "1"
        assert env["LISTEN_FDNAMES"] == "web"
        assert re.fullmatch(
            rf"@socket-activation/notify/{report['ppid']}/[0-9a-f]{{16}}", env["NOTIFY_SOCKET"]
        )
        assert report["sigblk"] == _SIGPWR_BIT
        fds = report["fds"]
        assert isinstance(fds, list)
        assert len(fds) == 1
        assert fds[0]["type"] == "SOCK_STREAM"
        assert fds[0]["listening"] is True

    def comparable(report: dict[str, object]) -> dict[str, object]:
        env = dict(report["env"])  # type: ignore[call-overload]
        for per_run in ("LISTEN_PID", "NOTIFY_SOCKET"):
            env.pop(per_run)
        fds = [{k: v for k, v in fd.items() if k != "address"} for fd in report["fds"]]  # type: ignore[attr-defined]
        return {"env": env, "sigblk": report["sigblk"], "fds": fds}

    assert comparable(early) == comparable(normal)


def test_ready_reaches_the_manager_and_sighup_reloads(tmp_path: Path) -> None:
    """On the early path the child's READY=1 makes supervise tell its manager READY=1, and a
    SIGHUP then rolls out generation 2 on the same socket."""
    with contextlib.contextmanager(abstract_manager)() as manager:
        setenv = {**manager.env, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = _supervise(["--", *CHILD, str(tmp_path), "--ready", "--stay"], setenv=setenv)
        try:
            first = _reports(tmp_path, 1)[0]
            deadline = time.monotonic() + 20
            states: list[str] = []
            while not any("READY=1" in s for s in states) and time.monotonic() < deadline:
                states.append(manager.receive(timeout=20).payload.decode())
            assert any("READY=1" in s.split("\n") for s in states), states
            proc.send_signal(signal.SIGHUP)
            reports = _reports(tmp_path, 2)
            second = next(r for r in reports if r["pid"] != first["pid"])
            assert second["ppid"] == first["ppid"]  # the same supervise started it
            assert second["env"]["NOTIFY_SOCKET"] == first["env"]["NOTIFY_SOCKET"]  # type: ignore[index]
        finally:
            status, err = _stop(proc)
    assert EARLY in err, err
    assert re.search(
        r"generation 2 \(pid \d+\) is ready; generation 1 \(pid \d+\) is draining", err
    ), err
    assert status == 0, err


def test_sigterm_during_start_up_is_held_and_stops_cleanly(tmp_path: Path) -> None:
    """The child sends supervise SIGTERM the moment it starts, while supervise is still
    importing: the signal is held (blocked), then forwarded once the supervisor runs, so the
    child is stopped and supervise exits with its status instead of dying and orphaning it."""
    pidfile = tmp_path / "child.pid"
    script = f"echo $$ > {pidfile}; kill -TERM $PPID; exec sleep 30"
    proc = _supervise(["--ready", "started", "--", "/bin/sh", "-c", script])
    _out, err = proc.communicate(timeout=30)
    assert EARLY in err, err
    assert "stopping on SIGTERM" in err, err
    assert proc.returncode == 128 + signal.SIGTERM, err  # the child's death by SIGTERM
    child = int(pidfile.read_text())
    assert (
        not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    )


def _normalised(err: str) -> list[str]:
    """supervise's own messages, numbers replaced. Found anywhere in a line: the shell writes its
    error in pieces, so one of our lines can land inside it."""
    found = re.findall(r"socket-activation supervise: .*", err.replace(f" {EARLY}", ""))
    return sorted(re.sub(r"\d+", "N", line) for line in found)


def test_a_command_not_found_fails_as_on_the_normal_path() -> None:
    """A missing program: the same messages and exit status 127 on both paths."""
    results = []
    for extra in ([], ["--trust-pid1"]):
        proc = _supervise([*extra, "--", "/nonexistent/program"])
        _out, err = proc.communicate(timeout=30)
        results.append((proc.returncode, _normalised(err), err))
    (early_status, early_lines, early_err), (normal_status, normal_lines, normal_err) = results
    assert EARLY in early_err
    assert EARLY not in normal_err
    assert early_status == normal_status == 127, (early_err, normal_err)
    # the same lines (sorted: on the early path the shell's error may come before "started",
    # which is logged once the supervisor adopted the child) and the shell's error
    assert early_lines == normal_lines, (early_err, normal_err)
    assert any("exited with status N before READY=N" in line for line in early_lines), early_err
    for err in (early_err, normal_err):
        assert "/nonexistent/program: not found" in err.replace("\n", ""), err


def test_without_fd_names_the_normal_path_runs(tmp_path: Path) -> None:
    """No LISTEN_FDNAMES: the early start declines and the normal path serves as today."""
    report, err, _ = _run_child(tmp_path, [], ["--stay"], names="")
    assert EARLY not in err, err
    assert "started generation 1" in err, err
    assert report["env"]["LISTEN_FDNAMES"] == "unknown"  # type: ignore[index]


def test_a_socket_activation_variable_means_the_normal_path(tmp_path: Path) -> None:
    """SOCKET_ACTIVATION_* configure the resolver: the early start declines."""
    setenv = {"SOCKET_ACTIVATION_WORKERS": "1"}
    report, err, _ = _run_child(tmp_path, [], ["--stay"], setenv=setenv)
    assert EARLY not in err, err
    assert report["env"]["LISTEN_FDNAMES"] == "web"  # type: ignore[index]
