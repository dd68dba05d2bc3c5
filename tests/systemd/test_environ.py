"""The pure LISTEN_* reader follows SPEC A/B (R1-R19) edge by edge, without touching the process."""

from __future__ import annotations

import errno

import pytest

from socket_activation._errors import ActivationError
from socket_activation.systemd.environ import (
    LISTEN_VARIABLES,
    SD_LISTEN_FDS_START,
    ListenEnv,
    parse_listen_env,
    parse_listen_fds,
    parse_listen_pid,
    parse_listen_pidfdid,
    split_fdnames,
)

PID = 4242


def test_fds_start_at_three() -> None:
    """R1: SD_LISTEN_FDS_START is 3 and n fds occupy 3..3+n-1."""
    assert SD_LISTEN_FDS_START == 3
    assert list(ListenEnv(2, None).fds) == [3, 4]


def test_every_listen_variable_is_named_for_unsetting() -> None:
    """R5/R11: unsetting removes LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and LISTEN_FDNAMES."""
    assert set(LISTEN_VARIABLES) == {"LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("4242", 4242, id="decimal"),
        pytest.param(" 4242", 4242, id="leading-space"),
        pytest.param("\t\n\r4242", 4242, id="leading-tab-newline-cr"),
        pytest.param("\v4242", 4242, id="leading-vtab-skipped-by-strtoul"),
        pytest.param("+4242", 4242, id="plus-sign"),
        pytest.param("0x1092", 4242, id="hex"),
        pytest.param("0X1092", 4242, id="hex-upper"),
        pytest.param("010222", 4242, id="leading-zero-is-octal"),
        pytest.param("0o10222", 4242, id="0o-octal"),
        pytest.param("0b1000010010010", 4242, id="0b-binary"),
        pytest.param("2147483647", 2147483647, id="int-max"),
        pytest.param("\v-18446744073709551615", 1, id="vtab-hides-minus-wraps-to-1"),
    ],
)
def test_listen_pid_accepts_what_parse_pid_accepts(text: str, expected: int) -> None:
    """R3: LISTEN_PID is parsed by safe_atolu: whitespace, '+', 0x/0o/0b prefixes."""
    assert parse_listen_pid(text) == expected


@pytest.mark.parametrize(
    ("text", "err"),
    [
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param(" ", errno.EINVAL, id="only-space"),
        pytest.param("4242 ", errno.EINVAL, id="trailing-space"),
        pytest.param("4242x", errno.EINVAL, id="trailing-garbage"),
        pytest.param("abc", errno.EINVAL, id="letters"),
        pytest.param("0x", errno.EINVAL, id="bare-0x"),
        pytest.param("0b", errno.EINVAL, id="bare-0b"),
        pytest.param("+0b1", errno.EINVAL, id="plus-before-0b"),
        pytest.param("4.2", errno.EINVAL, id="decimal-point"),
        pytest.param("0", errno.ERANGE, id="zero"),
        pytest.param("-0", errno.ERANGE, id="minus-zero"),
        pytest.param("-1", errno.ERANGE, id="minus-one"),
        pytest.param(" -1", errno.ERANGE, id="space-minus-one"),
        pytest.param("0b-1", errno.ERANGE, id="0b-then-minus"),
        pytest.param("2147483648", errno.ERANGE, id="above-pid-t"),
        pytest.param("18446744073709551616", errno.ERANGE, id="above-u64"),
    ],
)
def test_listen_pid_rejects_with_libsystemds_errno(text: str, err: int) -> None:
    """R3: garbage is EINVAL, 0/negative/too large is ERANGE; the message quotes the value."""
    with pytest.raises(ActivationError) as info:
        parse_listen_pid(text)
    assert info.value.errno == err
    assert info.value.variable == "LISTEN_PID"
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1", 1, id="one"),
        pytest.param(" 1", 1, id="leading-space"),
        pytest.param("+1", 1, id="plus"),
        pytest.param("0x2", 2, id="hex"),
        pytest.param("02", 2, id="leading-zero"),
        pytest.param("010", 8, id="010-is-octal-8"),
        pytest.param("0b10", 2, id="0b"),
        pytest.param("0o2", 2, id="0o"),
        pytest.param(" 0b10", 2, id="space-then-0b-measured"),
        pytest.param("0b+11", 3, id="0b-then-plus"),
        pytest.param("2147483644", 2147483644, id="int-max-minus-3"),
    ],
)
def test_listen_fds_accepts_what_safe_atoi_accepts(text: str, expected: int) -> None:
    """R7: LISTEN_FDS is strtol base 0 plus 0b/0o; "010" is octal."""
    assert parse_listen_fds(text) == expected


@pytest.mark.parametrize(
    ("text", "err"),
    [
        pytest.param("1 ", errno.EINVAL, id="trailing-space"),
        pytest.param("1.0", errno.EINVAL, id="decimal-point"),
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("abc", errno.EINVAL, id="letters"),
        pytest.param("3a", errno.EINVAL, id="trailing-letter"),
        pytest.param("08", errno.EINVAL, id="bad-octal-digit"),
        pytest.param("\v0b10", errno.EINVAL, id="vtab-hides-0b"),
        pytest.param("-0b10", errno.EINVAL, id="minus-before-0b"),
        pytest.param("0", errno.EINVAL, id="zero"),
        pytest.param("-1", errno.EINVAL, id="negative"),
        pytest.param("2147483645", errno.EINVAL, id="int-max-minus-2"),
        pytest.param("2147483647", errno.EINVAL, id="int-max"),
        pytest.param("2147483648", errno.ERANGE, id="above-int-max"),
        pytest.param("-2147483649", errno.ERANGE, id="below-int-min"),
        pytest.param("99999999999999999999", errno.ERANGE, id="above-long"),
        pytest.param("99999999999999999999x", errno.ERANGE, id="overflow-wins-over-garbage"),
        # measured with libsystemd 252: bytes >= 0x80 are no digit, whatever Python's lower()
        pytest.param("1\u0130", errno.EINVAL, id="non-ascii-with-two-character-lowercase"),
        pytest.param("0x\u0130", errno.EINVAL, id="non-ascii-after-hex-prefix"),
    ],
)
def test_listen_fds_rejects_with_libsystemds_errno(text: str, err: int) -> None:
    """R7/R8: n <= 0 and n > INT_MAX-3 are EINVAL; beyond a C int is ERANGE."""
    with pytest.raises(ActivationError) as info:
        parse_listen_fds(text)
    assert info.value.errno == err
    assert info.value.variable == "LISTEN_FDS"
    assert repr(text) in str(info.value)


def test_listen_fds_error_reads_as_the_style_guide_example() -> None:
    """Errors name the variable and quote the value."""
    with pytest.raises(ActivationError, match=r"^LISTEN_FDS must be a positive integer, got '3a'$"):
        parse_listen_fds("3a")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a:b", ["a", "b"], id="two"),
        pytest.param("a::b", ["a", "", "b"], id="empty-middle"),
        pytest.param("a:", ["a", ""], id="trailing-colon"),
        pytest.param(":a", ["", "a"], id="leading-colon"),
        pytest.param(":", ["", ""], id="colon-only"),
        pytest.param("", [""], id="empty-is-one-name"),
        pytest.param("a\\:b", ["a:b"], id="escaped-colon"),
        pytest.param("a\\\\b", ["a\\b"], id="escaped-backslash"),
        pytest.param("\\n", ["n"], id="backslash-n-is-just-n"),
        pytest.param("'a b':\"c\"", ["'a b'", '"c"'], id="quotes-kept"),
        pytest.param(" a\t", [" a\t"], id="spaces-tab-kept"),
        pytest.param("x" * 300, ["x" * 300], id="long-name-accepted"),
        pytest.param("connection", ["connection"], id="special-name"),
    ],
)
def test_fdnames_split_like_extract_first_word(text: str, expected: list[str]) -> None:
    """R13/R14: ':' splits without coalescing; backslash escapes; nothing else is special."""
    assert split_fdnames(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a\\", id="trailing-backslash"),
        pytest.param("\\", id="lone-backslash"),
        pytest.param("a:b\\", id="trailing-backslash-second-name"),
    ],
)
def test_fdnames_with_a_dangling_backslash_are_einval(text: str) -> None:
    """R14 (measured): a trailing lone backslash makes extract_first_word fail with EINVAL."""
    with pytest.raises(ActivationError) as info:
        split_fdnames(text)
    assert info.value.errno == errno.EINVAL
    assert info.value.variable == "LISTEN_FDNAMES"


def env(pid: str = str(PID), fds: str | None = "2", names: str | None = None) -> dict[str, str]:
    out = {"LISTEN_PID": pid}
    if fds is not None:
        out["LISTEN_FDS"] = fds
    if names is not None:
        out["LISTEN_FDNAMES"] = names
    return out


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        pytest.param({}, "LISTEN_PID is not set", id="R2-nothing"),
        pytest.param({"LISTEN_FDS": "2"}, "LISTEN_FDS=2 is set but LISTEN_PID is not", id="R2"),
        pytest.param(env(fds=None), "LISTEN_PID is set but LISTEN_FDS is not", id="R6"),
        pytest.param(
            env(pid="123"), "LISTEN_PID=123 is not this process (pid 4242)", id="R4-mismatch"
        ),
        pytest.param(
            env(pid="123", fds="garbage"),
            "LISTEN_PID=123 is not this process",
            id="R4-fds-not-parsed-when-not-ours",
        ),
        pytest.param(
            env(pid="123", names="a"), "is not this process", id="R15-mismatch-wins-over-names"
        ),
    ],
)
def test_not_for_us_gives_no_fds_and_says_why(environ: dict[str, str], reason: str) -> None:
    """R2/R4/R6/R15: "not for us" is not an error: zero fds and a reason naming the values."""
    passed = parse_listen_env(environ, PID)
    assert passed.count == 0
    assert list(passed.fds) == []
    assert passed.fd_names() == ()
    assert reason in passed.reason


@pytest.mark.parametrize(
    ("environ", "variable", "err"),
    [
        pytest.param(env(pid="x"), "LISTEN_PID", errno.EINVAL, id="R3-bad-pid"),
        pytest.param(env(pid="0"), "LISTEN_PID", errno.ERANGE, id="R3-pid-zero"),
        pytest.param(env(fds="0"), "LISTEN_FDS", errno.EINVAL, id="R8-zero-fds"),
        pytest.param(env(fds="3000000000"), "LISTEN_FDS", errno.ERANGE, id="R7-erange"),
        pytest.param(
            env(pid="1", names="a\\"), "LISTEN_FDNAMES", errno.EINVAL, id="R14-names-first"
        ),
        pytest.param(
            {"LISTEN_FDNAMES": "\\"}, "LISTEN_FDNAMES", errno.EINVAL, id="R14-even-without-pid"
        ),
    ],
)
def test_malformed_values_raise_naming_the_variable(
    environ: dict[str, str], variable: str, err: int
) -> None:
    """R3/R7/R8/R14: malformed values raise ActivationError with libsystemd's errno."""
    with pytest.raises(ActivationError) as info:
        parse_listen_env(environ, PID)
    assert info.value.variable == variable
    assert info.value.errno == err


def test_bad_names_are_not_read_by_plain_listen_fds() -> None:
    """R12: without names (sd_listen_fds) LISTEN_FDNAMES is not looked at."""
    passed = parse_listen_env(env(names="a\\"), PID, with_names=False)
    assert passed.count == 2
    assert passed.names is None


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(None, ("unknown", "unknown"), id="R17-unset-is-unknown"),
        pytest.param("web:api", ("web", "api"), id="two-names"),
        pytest.param(":", ("", ""), id="R13-two-empty-names"),
    ],
)
def test_names_pair_with_fds(names: str | None, expected: tuple[str, ...]) -> None:
    """R13/R17: one name per fd, 'unknown' when LISTEN_FDNAMES is absent."""
    assert parse_listen_env(env(names=names), PID).fd_names() == expected


@pytest.mark.parametrize(
    "names",
    [
        pytest.param("a", id="too-few"),
        pytest.param("a:b:c", id="too-many"),
        pytest.param("", id="empty-is-one-name"),
    ],
)
def test_a_name_count_mismatch_is_einval(names: str) -> None:
    """R16: a name count that differs from LISTEN_FDS raises EINVAL naming both counts."""
    passed = parse_listen_env(env(names=names), PID)
    assert passed.count == 2
    with pytest.raises(ActivationError, match=r"LISTEN_FDS=2\), got \d") as info:
        passed.fd_names()
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    ("pidfdid_text", "own", "count"),
    [
        pytest.param("77", 77, 2, id="R5-matches"),
        pytest.param("78", 77, 0, id="R5-differs-not-for-us"),
        pytest.param("78", None, 2, id="R5-no-pidfs-falls-back-to-pid"),
        pytest.param(" +0x4d", 77, 2, id="R5-parsed-like-safe-atou64"),
        pytest.param("18446744073709551615", 18446744073709551615, 2, id="R5-u64-max"),
    ],
)
def test_listen_pidfdid_decides_when_the_kernel_gives_an_id(
    pidfdid_text: str, own: int | None, count: int
) -> None:
    """R5 (newer systemd): LISTEN_PIDFDID must match our pidfd inode id when we have one."""
    environ = {**env(), "LISTEN_PIDFDID": pidfdid_text}
    passed = parse_listen_env(environ, PID, pidfdid=own)
    assert passed.count == count
    if count == 0:
        assert "LISTEN_PIDFDID=78 is not this process" in passed.reason


@pytest.mark.parametrize(
    ("text", "err"),
    [
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("x", errno.EINVAL, id="garbage"),
        pytest.param("-1", errno.ERANGE, id="negative"),
        pytest.param("18446744073709551616", errno.ERANGE, id="above-u64"),
    ],
)
def test_malformed_listen_pidfdid_is_an_error(text: str, err: int) -> None:
    """R5: a LISTEN_PIDFDID that is not a u64 is an error even without pidfs."""
    with pytest.raises(ActivationError) as info:
        parse_listen_env({**env(), "LISTEN_PIDFDID": text}, PID, pidfdid=None)
    assert info.value.errno == err
    assert info.value.variable == "LISTEN_PIDFDID"
    with pytest.raises(ActivationError):
        parse_listen_pidfdid(text)


def test_listen_pidfdid_is_only_checked_once_the_pid_matches() -> None:
    """R5: libsystemd checks LISTEN_PID first; a foreign pid wins over a bad LISTEN_PIDFDID."""
    passed = parse_listen_env({**env(pid="123"), "LISTEN_PIDFDID": "x"}, PID)
    assert passed.count == 0


@pytest.mark.parametrize(
    ("pid", "ppid", "trust", "count"),
    [
        pytest.param(2, 1, True, 2, id="pid2-child-of-init-trusted"),
        pytest.param(7, 1, True, 2, id="pid7-child-of-init-trusted-as-under-podman-tini"),
        pytest.param(2, 1, False, 0, id="not-trusted-by-default"),
        pytest.param(2, 5, True, 0, id="pid2-child-of-another-process-never"),
        pytest.param(2, None, True, 0, id="parent-unknown-never"),
        pytest.param(1, 0, False, 2, id="pid1-is-just-ours"),
    ],
)
def test_trust_pid1_accepts_listen_pid_1_only_in_a_child_of_pid_1(
    pid: int, ppid: int | None, trust: bool, count: int
) -> None:
    """Containers: under tini the app's parent is PID 1 and it sees LISTEN_PID=1; its own pid is
    whatever the container's PID namespace gave it (6 or 7 measured under podman with runc, not
    2). Opt-in only."""
    passed = parse_listen_env(env(pid="1"), pid, trust_pid1=trust, ppid=ppid)
    assert passed.count == count


def test_a_child_of_pid_1_without_trust_is_told_about_the_opt_in() -> None:
    """The reason for ignoring LISTEN_PID=1 in a child of PID 1 names trust_pid1."""
    assert "trust_pid1=True" in parse_listen_env(env(pid="1"), 7, ppid=1).reason
    assert "trust_pid1" not in parse_listen_env(env(pid="1"), 7, ppid=3).reason
