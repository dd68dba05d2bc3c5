"""``socket-activation reload``: exit statuses and messages, against a real control socket."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from socket_activation.cli import main
from socket_activation.restart.control import ControlRequest, ControlServer

ROOT = Path(__file__).resolve().parents[2]


def answering(answer: Callable[[ControlRequest], None]) -> tuple[ControlServer, threading.Thread]:
    server = ControlServer()

    def run() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for request in server.poll():
                answer(request)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server, thread


def test_success_prints_the_outcome_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    server, thread = answering(lambda r: r.succeed("generation 2 (pid 7) serves", pid=7))
    try:
        assert main(["reload", str(os.getpid()), "--timeout", "5"]) == 0
    finally:
        thread.join(5)
        server.close()
    assert capsys.readouterr().out == "socket-activation reload: generation 2 (pid 7) serves\n"


def test_failure_prints_the_reason_on_stderr_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PID defaults to $MAINPID, as systemd sets it for ExecReload=."""
    monkeypatch.setenv("MAINPID", str(os.getpid()))
    server, thread = answering(lambda r: r.fail("generation 2 exited with status 3 before READY=1"))
    try:
        assert main(["reload"]) == 1
    finally:
        thread.join(5)
        server.close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "socket-activation reload: generation 2 exited with status 3 before READY=1\n"
    )


@pytest.mark.parametrize(
    ("argv", "mainpid", "code", "message"),
    [
        (["reload"], None, 64, "no PID given and $MAINPID is not set"),
        (["reload"], "12ab", 64, "$MAINPID must be a process id"),
        (["reload", "999999999"], None, 1, "process 999999999 has no control socket"),
    ],
)
def test_bad_or_missing_targets_are_named(
    argv: list[str], mainpid: str | None, code: int, message: str
) -> None:
    """Run as the real command: ExecReload= calls it in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("MAINPID", None)
    if mainpid is not None:
        env["MAINPID"] = mainpid
    done = subprocess.run(
        [sys.executable, "-m", "socket_activation", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == code
    assert message in done.stderr


def test_the_timeout_must_be_positive() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["reload", "1", "--timeout", "0"])
    assert exc.value.code == 2
