"""Our listen_fds / listen_fds_with_names agree with libsystemd's own, case for case.

The oracle is systemd-python (``systemd.daemon``), i.e. the real libsystemd 252 of this machine.
Both run in forked children of one driver process (tests/support/listen_fds_driver.py) with the same
environment and the same fds 3..N, and must agree on the result or errno, on the CLOEXEC state
of every fd afterwards and on LISTEN_* left in the C environment. The one deliberate difference:
with ``unset_environment`` we also remove LISTEN_* from Python's ``os.environ`` (the binding
leaves it, so a subprocess started later would inherit a stale LISTEN_FDS).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import require
from tests.support.paths import ROOT, TESTS

VARIABLES = ("LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES")
DRIVER = TESTS / "support" / "listen_fds_driver.py"
Run = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def run_case() -> Iterator[Run]:
    """One driver process for the whole module; each call runs one case in both libraries."""
    try:
        import systemd.daemon  # noqa: F401
    except ImportError:
        require(False, "systemd-python (libsystemd's binding, the oracle) is not installed")
    root = ROOT
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={"PYTHONPATH": f"{root / 'src'}:{root}", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdin is not None
    assert proc.stdout is not None

    def run(case: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(case) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, "driver died"
        return dict(json.loads(line))

    try:
        yield run
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.wait(timeout=30)


def case(
    env: dict[str, str],
    layout: tuple[str, ...] = ("tcp", "udp"),
    *,
    func: str = "with_names",
    unset: bool = True,
    id: str,
) -> Any:
    return pytest.param({"env": env, "layout": list(layout), "func": func, "unset": unset}, id=id)


def me(fds: str, names: str | None = None, pid: str = "{pid}") -> dict[str, str]:
    env = {"LISTEN_PID": pid, "LISTEN_FDS": fds}
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    return env


CASES = [
    # A. R2, R4, R6: not for us
    case({}, id="R2-nothing-set"),
    case({"LISTEN_FDS": "2"}, id="R2-fds-without-pid"),
    case({"LISTEN_PID": "{pid}"}, id="R6-pid-without-fds"),
    case(me("2", pid="{ppid}"), id="R4-parent-pid-not-for-us"),
    case(me("2", "a:b", pid="1"), id="R4-pid1-not-for-us-with-names"),
    case(me("2", pid="2147483647"), id="R4-int-max-pid-not-for-us"),
    # R3: LISTEN_PID parsing
    case(me("2", pid=" {pid}"), id="R3-pid-leading-space"),
    case(me("2", pid="\t\n{pid}"), id="R3-pid-leading-tab-newline"),
    case(me("2", pid="+{pid}"), id="R3-pid-plus"),
    case(me("2", pid="{pidhex}"), id="R3-pid-hex"),
    case(me("2", pid="{pid} "), id="R3-pid-trailing-space"),
    case(me("2", pid="{pid}x"), id="R3-pid-trailing-garbage"),
    case(me("2", pid=""), id="R3-pid-empty"),
    case(me("2", pid="abc"), id="R3-pid-abc"),
    case(me("2", pid="0"), id="R3-pid-zero"),
    case(me("2", pid="-1"), id="R3-pid-minus-one"),
    case(me("2", pid="-0"), id="R3-pid-minus-zero"),
    case(me("2", pid="2147483648"), id="R3-pid-above-int-max"),
    case(me("2", pid="18446744073709551616"), id="R3-pid-above-u64"),
    case(me("2", pid="0b"), id="R3-pid-bare-0b"),
    case(me("2", pid="0x"), id="R3-pid-bare-0x"),
    case(me("2", pid="\v-18446744073709551615"), id="R3-pid-vtab-minus-wraps-to-1"),
    # R7, R8: LISTEN_FDS parsing
    case(me(" 1"), id="R7-fds-leading-space"),
    case(me("+1"), id="R7-fds-plus"),
    case(me("0x2"), id="R7-fds-hex"),
    case(me("02"), id="R7-fds-leading-zero-octal-2"),
    case(me("010"), ("tcp",) * 8, id="R7-fds-010-is-octal-8"),
    case(me("0b10"), id="R7-fds-0b10"),
    case(me("0o2"), id="R7-fds-0o2"),
    case(me("0b+10"), id="R7-fds-0b-then-plus"),
    case(me(" 0b10"), id="R7-fds-space-before-0b"),
    case(me("1 "), id="R7-fds-trailing-space"),
    case(me("1.0"), id="R7-fds-decimal-point"),
    case(me(""), id="R7-fds-empty"),
    case(me("abc"), id="R7-fds-abc"),
    case(me("08"), id="R7-fds-08-bad-octal"),
    case(me("2147483648"), id="R7-fds-above-int-max-erange"),
    case(me("99999999999999999999"), id="R7-fds-above-long-erange"),
    case(me("0"), id="R8-fds-zero"),
    case(me("-1"), id="R8-fds-negative"),
    case(me("2147483645"), id="R8-fds-int-max-minus-2"),
    case(me("2147483644"), id="R8-fds-int-max-minus-3-ebadf"),
    # R9, R10: CLOEXEC and fd checks
    case(me("2"), ("tcp", "udp"), id="R10-two-fds-unknown-names"),
    case(me("3"), ("tcp", "udp"), id="R9-one-fd-missing-ebadf"),
    case(me("3"), ("tcp", "closed", "udp"), id="R9-hole-in-the-middle"),
    case(me("1"), ("closed",), id="R9-fd3-closed"),
    case(me("2"), ("null", "file"), id="R10-non-sockets-not-checked"),
    case(me("2"), ("cloexec", "tcp"), id="R9-already-cloexec"),
    case(me("2"), ("unix", "udp"), func="fds", id="R12-listen-fds-plain"),
    case(me("2", "a:"), ("tcp", "udp"), func="fds", id="R12-listen-fds-ignores-names"),
    case(me("1", "a\\"), ("tcp",), func="fds", id="R12-listen-fds-ignores-bad-names"),
    # R11: unset_environment
    case(me("2", "a:b"), id="R11-unset-on-success"),
    case(me("2", "a:b"), unset=False, id="R11-keep-on-success"),
    case(me("x", "a:b"), id="R11-unset-on-error"),
    case(me("2", "a:b", pid="1"), id="R11-unset-when-not-for-us"),
    case(me("2", "a:b", pid="1"), unset=False, id="R11-keep-when-not-for-us"),
    case(me("3", "a:b:c"), unset=False, id="R11-keep-on-ebadf"),
    # B. R13-R17: names
    case(me("3", "a::b"), ("tcp",) * 3, id="R13-empty-middle-name"),
    case(me("2", "a:"), id="R13-trailing-colon"),
    case(me("2", ":a"), id="R13-leading-colon"),
    case(me("2", ":"), id="R13-colon-only"),
    case(me("1", ""), ("tcp",), id="R13-empty-is-one-name"),
    case(me("2", ""), id="R16-empty-for-two-fds"),
    case(me("1", "a\\:b"), ("tcp",), id="R14-escaped-colon"),
    case(me("1", "a\\\\b"), ("tcp",), id="R14-escaped-backslash"),
    case(me("1", "\\a\\b"), ("tcp",), id="R14-escaped-letters"),
    case(me("2", "'a b':\"c\td\""), id="R14-quotes-spaces-tab-kept"),
    case(me("1", "x" * 300), ("tcp",), id="R14-300-char-name"),
    case(me("1", "a\\"), ("tcp",), id="R14-trailing-backslash-einval"),
    case(me("1", "a\\", pid="1"), ("tcp",), id="R14-trailing-backslash-before-pid-check"),
    case({"LISTEN_FDNAMES": "\\"}, ("tcp",), id="R14-lone-backslash-without-pid"),
    case(me("2", "a:b:c"), id="R16-too-many-names"),
    case(me("2", "a"), id="R16-too-few-names"),
    case(me("3", "a:b"), ("tcp", "udp"), id="R16-ebadf-wins-over-count"),
    case(me("2", "x", pid="1"), id="R15-pid-mismatch-wins-over-count"),
    case(me("2", "connection:stored"), id="R18-special-names-passed-through"),
    case(me("2", "caf\u00e9:\u263a"), id="R14-utf8-names"),
]


@pytest.mark.parametrize("scenario", CASES)
def test_listen_fds_agrees_with_libsystemd(run_case: Run, scenario: dict[str, Any]) -> None:
    """For every edge of SPEC A/B, ours returns and raises what libsystemd 252 does."""
    answer = run_case(scenario)
    assert_agree(scenario, answer["oracle"], answer["ours"])


def assert_agree(scenario: dict[str, Any], oracle: dict[str, Any], ours: dict[str, Any]) -> None:
    assert "crash" not in oracle, oracle
    assert "crash" not in ours, ours
    assert ours["errno"] == oracle["errno"], (scenario, oracle, ours)
    assert ours["result"] == oracle["result"], (scenario, oracle, ours)
    assert ours["cloexec"] == oracle["cloexec"], (scenario, oracle, ours)
    # The C environment after the call: ignore pid substitution differences (two children).
    assert _c_env_shape(ours) == _c_env_shape(oracle), (scenario, oracle, ours)
    if scenario["unset"]:
        assert ours["py_env"] == dict.fromkeys(VARIABLES), "we unset os.environ too"
    else:
        assert _py_env_shape(ours) == _py_env_shape(oracle)


def _normalised(report: dict[str, Any], key: str) -> dict[str, Any]:
    """Each variable as "given" (left as this child set it: the two children have two pids),
    or what it became. Comparing values to what was given, not replacing the pid's digits, keeps
    a random LISTEN_PID that merely contains the pid (2147483645 and pid 14748) intact."""
    given = report["given"]
    return {
        name: "<as given>" if value is not None and value == given[name] else value
        for name, value in report[key].items()
    }


def _c_env_shape(report: dict[str, Any]) -> dict[str, Any]:
    return _normalised(report, "c_env")


def _py_env_shape(report: dict[str, Any]) -> dict[str, Any]:
    return _normalised(report, "py_env")


def test_the_table_covers_at_least_forty_environments() -> None:
    """The brief asks for at least 40 differential environments; count them."""
    assert len(CASES) >= 40


# --- hypothesis: random environments, malformed ones included -------------------------------

_number_texts = st.one_of(
    st.integers(min_value=-3, max_value=6).map(str),
    st.sampled_from(
        ["", " ", "+", "-", "0x", "0b", "0o", "010", "0x3", "0b11", "0o3", "2147483645", "1e1"]
    ),
    st.text(alphabet=" \t\n\r\v+-0123456789abxoXBO", max_size=6),
)
_pid_texts = st.one_of(
    st.sampled_from(["{pid}", " {pid}", "+{pid}", "{pidhex}", "{pid} ", "{ppid}", "1"]),
    _number_texts,
)
_names = st.text(alphabet="ab:\\ '\"\t", max_size=8)
_layouts = st.lists(
    st.sampled_from(["tcp", "udp", "unix", "null", "closed", "cloexec"]), max_size=4
)


@st.composite
def _scenarios(draw: st.DrawFn) -> dict[str, Any]:
    env: dict[str, str] = {}
    if draw(st.integers(0, 5)):  # mostly set
        env["LISTEN_PID"] = draw(_pid_texts)
    if draw(st.integers(0, 5)):  # mostly set
        fds = draw(st.one_of(st.integers(1, 4).map(str), _number_texts))
        env["LISTEN_FDS"] = fds
    if draw(st.booleans()):
        env["LISTEN_FDNAMES"] = draw(_names)
    return {
        "env": env,
        "layout": draw(_layouts),
        "func": draw(st.sampled_from(["with_names", "with_names", "fds"])),
        "unset": draw(st.booleans()),
    }


@settings(max_examples=150, deadline=None, database=None)
@given(scenario=_scenarios())
def test_random_environments_agree_with_libsystemd(run_case: Run, scenario: dict[str, Any]) -> None:
    """Hypothesis finds no environment where ours and libsystemd disagree."""
    answer = run_case(scenario)
    assert_agree(scenario, answer["oracle"], answer["ours"])
