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
from hypothesis import given, settings
from hypothesis import strategies as st

from socket_activation.cli import build_parser, main
from socket_activation.cli.reload import scan
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


# --- the argv scan that skips argparse, differential against argparse ---

RELOAD_WORDS = ["--timeout", "--timeout=", "--time", "-h", "--help", "--", "--timeout=2.5"]
RELOAD_VALUES = ["1", "7", "0", "007", "-1", "2.5", "1e3", "inf", "nan", "", " 5", "abc", "-3"]


@st.composite
def reload_argv(draw: st.DrawFn) -> list[str]:
    words: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["option", "split", "value"]))
        if kind == "option":
            words.append(draw(st.sampled_from(RELOAD_WORDS)))
        elif kind == "split":
            words.extend(["--timeout", draw(st.sampled_from(RELOAD_VALUES))])
        else:
            words.append(draw(st.sampled_from(RELOAD_VALUES)))
    return words


def _reload_argparse(words: list[str]) -> tuple[int | None, float] | None:
    parser = build_parser("reload")
    try:
        args = parser.parse_args(["reload", *words])
    except SystemExit:
        return None
    return args.pid, args.timeout


@settings(max_examples=500, deadline=None)
@given(reload_argv())
def test_reload_scan_accepts_only_what_argparse_accepts_with_the_same_values(
    words: list[str],
) -> None:
    scanned = scan(words)
    if scanned is None:
        return
    parsed = _reload_argparse(words)
    assert parsed is not None, f"the scan accepted {words!r}, argparse refuses it"
    assert (scanned.pid, scanned.timeout) == parsed, words


@pytest.mark.parametrize(
    "words",
    [[], ["12"], ["12", "--timeout", "5"], ["--timeout", "5", "12"], ["--timeout=0.5"]],
)
def test_the_usual_reload_lines_skip_argparse(words: list[str]) -> None:
    """ExecReload= waits for the command: its usual lines are parsed without argparse."""
    assert scan(words) is not None
    code = (
        "import sys\nfrom socket_activation.cli import main\n"
        f"main(['reload', *{words!r}])\nprint('argparse' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MAINPID": "999999999"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr
    assert "has no control socket" in done.stderr  # it did run: no such server
