"""The early start's argv scan against argparse: it accepts only what argparse accepts, with
the same values and command (differential, hypothesis over argv words)."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from socket_activation.cli import build_parser
from socket_activation.cli._early import EarlyArgs, early_start, scan
from socket_activation.cli._options import command_from_args

ATTRIBUTES = (
    "ready",
    "ready_timeout",
    "drain_timeout",
    "restart",
    "start_priority",
    "start_nice",
    "exit_idle_time",
)
OPTIONS = [
    "--ready",
    "--ready-timeout",
    "--drain-timeout",
    "--restart",
    "--start-priority",
    "--start-nice",
    "--exit-idle-time",
    # what the scan must refuse: abbreviations, other options, help
    "--ready-t",
    "--rest",
    "--health",
    "--watch",
    "--listen",
    "-l",
    "--unit",
    "--trust-pid1",
    "--fdname",
    "-h",
]
VALUES = [
    "idle",
    "nice",
    "normal",
    "notify",
    "started",
    "on-failure",
    "always",
    "no",
    "nope",
    "0",
    "1",
    "19",
    "20",
    "-1",
    "-0",
    "2.5",
    "1e3",
    "inf",
    "nan",
    "0.0",
    "",
    " 5",
    "abc",
    "{fd}",
]
COMMAND_WORDS = ["prog", "--", "--ready", "x", "{fd:web}", "{{fd}}", "a}b", "-c", ""]


@st.composite
def argv_words(draw: st.DrawFn) -> list[str]:
    words: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        option = draw(st.sampled_from(OPTIONS))
        value = draw(st.sampled_from(VALUES))
        form = draw(st.sampled_from(["split", "equals", "bare"]))
        if form == "split":
            words.extend([option, value])
        elif form == "equals":
            words.append(f"{option}={value}")
        else:
            words.append(option)
    if draw(st.booleans()):
        words.append("--")
    words.extend(draw(st.lists(st.sampled_from(COMMAND_WORDS), max_size=3)))
    return words


def _argparse(words: list[str]) -> tuple[dict[str, object], list[str]] | None:
    parser = build_parser("supervise")
    try:
        args = parser.parse_args(["supervise", *words])
        command = command_from_args(args, "supervise")
    except (SystemExit, ValueError):
        return None
    return {name: getattr(args, name) for name in ATTRIBUTES}, command


def _values(args: EarlyArgs) -> dict[str, object]:
    return {name: getattr(args, name) for name in ATTRIBUTES}


@settings(max_examples=600, deadline=None)
@given(argv_words())
def test_scan_accepts_only_what_argparse_accepts_with_the_same_values(words: list[str]) -> None:
    early = scan(words)
    if early is None:
        return
    parsed = _argparse(words)
    assert parsed is not None, f"the scan accepted {words!r}, argparse refuses it"
    values, command = parsed
    assert _values(early) == values, words
    assert early.command == command, words


EARLY_OPTIONS = OPTIONS[:7]
SAFE_COMMAND_WORDS = ["prog", "--", "--ready", "x", "-c", ""]


@st.composite
def early_words(draw: st.DrawFn) -> list[str]:
    """Words made only of what the scan handles: its options, values not starting with "-"
    (valid or not), "--" and a command without braces."""
    words: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        option = draw(st.sampled_from(EARLY_OPTIONS))
        value = draw(st.sampled_from([v for v in VALUES if not v.startswith("-") and "{" not in v]))
        if draw(st.booleans()):
            words.extend([option, value])
        else:
            words.append(f"{option}={value}")
    command = draw(st.lists(st.sampled_from(SAFE_COMMAND_WORDS), min_size=1, max_size=3))
    return [*words, "--", *command]


@settings(max_examples=400, deadline=None)
@given(early_words())
def test_within_its_subset_the_scan_accepts_exactly_what_argparse_accepts(
    words: list[str],
) -> None:
    early = scan(words)
    parsed = _argparse(words)
    assert (early is None) == (parsed is None), words
    if early is not None and parsed is not None:
        assert (_values(early), early.command) == parsed, words


def test_scan_takes_both_forms_and_the_command_after_the_first_double_dash() -> None:
    words = ["--ready=started", "--ready-timeout", "2.5", "--restart=no", "--start-nice", "0"]
    words += ["--exit-idle-time=1", "--drain-timeout", "7", "--start-priority=nice"]
    words += ["--", "prog", "--", "--ready"]
    early = scan(words)
    assert early is not None
    assert _values(early) == {
        "ready": "started",
        "ready_timeout": 2.5,
        "drain_timeout": 7.0,
        "restart": "no",
        "start_priority": "nice",
        "start_nice": 0,
        "exit_idle_time": 1.0,
    }
    assert early.command == ["prog", "--", "--ready"]
    assert _argparse(words) == (_values(early), early.command)


def test_scan_defaults_are_argparses() -> None:
    early = scan(["--", "prog"])
    assert early is not None
    assert _argparse(["--", "prog"]) == (_values(early), ["prog"])


def test_scan_refuses_what_it_does_not_fully_understand() -> None:
    for words in (
        ["--health", ":8080", "--", "prog"],
        ["--watch", "src", "--", "prog"],
        ["--listen", "8080", "--", "prog"],
        ["--unit", "app.socket", "--", "prog"],
        ["--ready-t", "5", "--", "prog"],  # argparse takes the abbreviation; the scan does not
        ["--", "hypercorn", "--bind", "fd://{fd:web}"],
        ["--", "prog", "{{fd}}"],
        ["prog"],  # no "--"
        ["--"],
        ["--ready", "--", "prog"],
        ["--start-nice", "-1", "--", "prog"],
        ["--ready-timeout", "0", "--", "prog"],
        ["-h"],
    ):
        assert scan(words) is None, words


def test_early_start_declines_off_its_conditions() -> None:
    """No LISTEN_* for us, or a SOCKET_ACTIVATION_* variable: nothing is started."""
    words = ["--", "true"]
    assert early_start(words, {"PATH": "/usr/bin"}) is None
    assert early_start(words, {"SOCKET_ACTIVATION_LISTEN": "8080"}) is None


def test_the_early_path_imports_nothing_heavy_before_the_spawn() -> None:
    """Up to and including the spawn, no argparse, socket, signal, enum-based module or the
    supervisor is imported (the point of the early start)."""
    probe = (
        "import _socket, os, sys\n"
        "s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\n"
        "s.bind(('127.0.0.1', 0)); s.listen(8); os.dup2(s.fileno(), 3)\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES='web')\n"
        "before = set(sys.modules)\n"
        "from socket_activation.cli._early import early_start\n"
        "start = early_start(['--ready', 'started', '--', 'true'])\n"
        "assert start is not None\n"
        "loaded = sorted(set(sys.modules) - before)\n"
        "os.waitpid(start.pid, 0)\n"
        "import json; print(json.dumps(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "socket_activation.restart.early" in loaded
    heavy = {"argparse", "socket", "signal", "enum", "selectors", "dataclasses", "typing"}
    heavy |= {"socket_activation.restart.supervisor", "collections.abc", "contextlib"}
    assert not heavy & loaded, heavy & loaded
