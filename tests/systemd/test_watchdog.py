"""The watchdog: sd_watchdog_enabled's rules (R48-R50) and keep-alives that stop when unhealthy."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Iterator

import pytest

from socket_activation._errors import ActivationError
from socket_activation.systemd.watchdog import (
    WatchdogThread,
    start_watchdog,
    watchdog_enabled,
    watchdog_keepalive,
)
from tests.support.notify_manager import FakeManager, path_manager

OUR_PID = 1234
# interval for the keep-alive tests: pings every 0.1 s, so a second holds about ten
INTERVAL_USEC = 200_000
PERIOD = INTERVAL_USEC / 2 / 1_000_000


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    yield from path_manager()


# --- watchdog_enabled --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usec", "expected"),
    [
        pytest.param(None, None, id="unset-off"),
        pytest.param("30000000", 30_000_000, id="30s"),
        pytest.param(" 100", 100, id="leading-space"),
        pytest.param("\t100", 100, id="leading-tab"),
        pytest.param("+100", 100, id="plus-sign"),
        pytest.param("0x10", 16, id="hex"),
        pytest.param("0o10", 8, id="0o-octal"),
        pytest.param("010", 8, id="c-octal"),
        pytest.param("0b101", 5, id="binary"),
        pytest.param(str(2**64 - 2), 2**64 - 2, id="largest-finite"),
    ],
)
def test_watchdog_usec_values_accepted(usec: str | None, expected: int | None) -> None:
    """R48: WATCHDOG_USEC parses like safe_atou64 (whitespace, sign and base prefixes)."""
    env = {} if usec is None else {"WATCHDOG_USEC": usec}
    assert watchdog_enabled(environ=env, pid=OUR_PID) == expected


@pytest.mark.parametrize(
    ("usec", "err"),
    [
        pytest.param("abc", errno.EINVAL, id="letters"),
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("100 ", errno.EINVAL, id="trailing-space"),
        pytest.param("1.5", errno.EINVAL, id="decimal-point"),
        pytest.param("0x", errno.EINVAL, id="bare-0x"),
        pytest.param("0b", errno.EINVAL, id="bare-0b"),
        pytest.param("08", errno.EINVAL, id="bad-octal-digit"),
        pytest.param("0", errno.EINVAL, id="zero"),
        pytest.param("-0", errno.EINVAL, id="minus-zero-is-zero"),
        pytest.param(str(2**64 - 1), errno.EINVAL, id="infinity"),
        pytest.param("-1", errno.ERANGE, id="negative"),
        pytest.param(str(2**64), errno.ERANGE, id="overflow"),
    ],
)
def test_watchdog_usec_values_rejected(usec: str, err: int) -> None:
    """R48: malformed WATCHDOG_USEC raises ActivationError naming it, errno as libsystemd."""
    with pytest.raises(ActivationError, match=f"WATCHDOG_USEC .*got {usec!r}") as info:
        watchdog_enabled(environ={"WATCHDOG_USEC": usec}, pid=OUR_PID)
    assert (info.value.variable, info.value.errno) == ("WATCHDOG_USEC", err)


@pytest.mark.parametrize(
    ("watchdog_pid", "expected"),
    [
        pytest.param(None, 5000, id="unset-means-us"),
        pytest.param(str(OUR_PID), 5000, id="ours"),
        pytest.param(f" {OUR_PID}", 5000, id="ours-leading-space"),
        pytest.param(hex(OUR_PID), 5000, id="ours-in-hex"),
        pytest.param("4321", None, id="another-process"),
    ],
)
def test_watchdog_pid_decides_whether_it_is_for_us(
    watchdog_pid: str | None, expected: int | None
) -> None:
    """R49: WATCHDOG_PID unset or ours enables; another pid means "not for us", no error."""
    env = {"WATCHDOG_USEC": "5000"}
    if watchdog_pid is not None:
        env["WATCHDOG_PID"] = watchdog_pid
    assert watchdog_enabled(environ=env, pid=OUR_PID) == expected


@pytest.mark.parametrize(
    ("watchdog_pid", "err"),
    [
        pytest.param("abc", errno.EINVAL, id="letters"),
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("12 ", errno.EINVAL, id="trailing-space"),
        pytest.param("0", errno.ERANGE, id="zero"),
        pytest.param("-1", errno.ERANGE, id="negative"),
        pytest.param(str(2**31), errno.ERANGE, id="beyond-pid_t"),
    ],
)
def test_watchdog_pid_values_rejected(watchdog_pid: str, err: int) -> None:
    """R49: a malformed WATCHDOG_PID raises ActivationError naming it."""
    env = {"WATCHDOG_USEC": "5000", "WATCHDOG_PID": watchdog_pid}
    with pytest.raises(ActivationError, match="WATCHDOG_PID") as info:
        watchdog_enabled(environ=env, pid=OUR_PID)
    assert (info.value.variable, info.value.errno) == ("WATCHDOG_PID", err)


def test_watchdog_pid_defaults_to_the_real_process_id() -> None:
    """R49: without pid= the comparison is with os.getpid()."""
    env = {"WATCHDOG_USEC": "5000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_enabled(environ=env) == 5000


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"WATCHDOG_USEC": "5000", "WATCHDOG_PID": str(OUR_PID)}, id="enabled"),
        pytest.param({"WATCHDOG_USEC": "5000", "WATCHDOG_PID": "4321"}, id="not-for-us"),
        pytest.param({"WATCHDOG_USEC": "abc", "WATCHDOG_PID": str(OUR_PID)}, id="bad-usec"),
        pytest.param({"WATCHDOG_USEC": "5000", "WATCHDOG_PID": "x"}, id="bad-pid"),
        pytest.param({"WATCHDOG_PID": str(OUR_PID)}, id="pid-without-usec"),
    ],
)
def test_unset_environment_removes_both_variables_on_every_path(env: dict[str, str]) -> None:
    """R50: with unset_environment, WATCHDOG_USEC and WATCHDOG_PID are gone whatever happened."""
    env = {**env, "OTHER": "kept"}
    with contextlib.suppress(ActivationError):
        watchdog_enabled(True, environ=env, pid=OUR_PID)
    assert env == {"OTHER": "kept"}


def test_environment_is_left_alone_by_default() -> None:
    """R50: unset_environment=False keeps both variables."""
    env = {"WATCHDOG_USEC": "5000", "WATCHDOG_PID": str(OUR_PID)}
    watchdog_enabled(environ=env, pid=OUR_PID)
    assert env == {"WATCHDOG_USEC": "5000", "WATCHDOG_PID": str(OUR_PID)}


# --- asyncio keep-alive ------------------------------------------------------------------------


def _watchdog_env(manager: FakeManager) -> dict[str, str]:
    return {**manager.env, "WATCHDOG_USEC": str(INTERVAL_USEC), "WATCHDOG_PID": str(OUR_PID)}


def _pings(manager: FakeManager) -> int:
    received = manager.drain()
    assert all(r.payload == b"WATCHDOG=1" for r in received)
    return len(received)


def test_keepalive_pings_about_every_half_interval_while_the_loop_runs(
    manager: FakeManager,
) -> None:
    """R51: on a healthy loop the task pings at ~interval/2 (10 in 1 s; bounds are generous)."""
    env = _watchdog_env(manager)

    async def main() -> int:
        async with watchdog_keepalive(environ=env, pid=OUR_PID) as task:
            assert task is not None
            await asyncio.sleep(1.0)
        return _pings(manager)

    assert 4 <= asyncio.run(main()) <= 15


def test_keepalive_stops_pinging_while_the_loop_is_blocked(manager: FakeManager) -> None:
    """A coroutine that blocks the loop stops the pings, so systemd's watchdog can fire."""
    env = _watchdog_env(manager)

    async def main() -> tuple[int, int, int]:
        async with watchdog_keepalive(environ=env, pid=OUR_PID):
            await asyncio.sleep(0.5)
            healthy = _pings(manager)
            time.sleep(6 * PERIOD)  # the stuck handler: nothing else runs on this loop
            while_blocked = _pings(manager)
            await asyncio.sleep(0.5)
            recovered = _pings(manager)
        return healthy, while_blocked, recovered

    healthy, while_blocked, recovered = asyncio.run(main())
    assert healthy >= 2
    assert while_blocked == 0
    assert recovered >= 1


def test_keepalive_is_off_without_watchdog_usec(manager: FakeManager) -> None:
    """No WATCHDOG_USEC: no task is started and nothing is sent."""

    async def main() -> None:
        assert start_watchdog(environ=manager.env) is None
        async with watchdog_keepalive(environ=manager.env) as task:
            assert task is None
            await asyncio.sleep(0.05)

    asyncio.run(main())
    assert _pings(manager) == 0


def test_keepalive_for_another_process_is_off(manager: FakeManager) -> None:
    """R49: WATCHDOG_PID naming another process means this one must not ping."""
    env = {**_watchdog_env(manager), "WATCHDOG_PID": "4321"}

    async def main() -> object:
        return start_watchdog(environ=env, pid=OUR_PID)

    assert asyncio.run(main()) is None


def test_keepalive_failure_is_raised_when_the_block_ends() -> None:
    """A ping that cannot be sent ends the task; the error surfaces at the end of the block."""
    env = {"NOTIFY_SOCKET": "/nonexistent/sa-notify", "WATCHDOG_USEC": str(INTERVAL_USEC)}

    async def main() -> None:
        async with watchdog_keepalive(environ=env):
            await asyncio.sleep(0.05)

    with pytest.raises(OSError, match="nonexistent"):
        asyncio.run(main())


# --- thread keep-alive -------------------------------------------------------------------------


def test_thread_pings_only_while_the_health_check_passes(manager: FakeManager) -> None:
    """The sync keep-alive pings while healthy() is true and withholds pings when it is false."""
    healthy = True
    with WatchdogThread(lambda: healthy, environ=_watchdog_env(manager), pid=OUR_PID) as thread:
        assert thread.enabled
        time.sleep(0.6)
        while_healthy = _pings(manager)
        healthy = False
        time.sleep(2 * PERIOD)  # let a ping already past the check arrive
        _pings(manager)
        time.sleep(6 * PERIOD)
        while_unhealthy = _pings(manager)
        healthy = True
        time.sleep(0.5)
        recovered = _pings(manager)
    assert 2 <= while_healthy <= 12
    assert while_unhealthy == 0
    assert recovered >= 1


def test_thread_treats_a_crashing_health_check_as_unhealthy(manager: FakeManager) -> None:
    """A health check that raises withholds the ping rather than killing the thread silently."""

    def broken() -> bool:
        raise RuntimeError("database gone")

    with WatchdogThread(broken, environ=_watchdog_env(manager), pid=OUR_PID):
        time.sleep(4 * PERIOD)
    assert _pings(manager) == 0


def test_thread_does_not_start_when_the_watchdog_is_off(manager: FakeManager) -> None:
    """No WATCHDOG_USEC: start() returns False and nothing is sent."""
    thread = WatchdogThread(lambda: True, environ=manager.env)
    assert not thread.enabled
    assert thread.start() is False
    thread.stop()
    assert _pings(manager) == 0


def test_thread_records_a_send_failure_and_stops() -> None:
    """A ping that cannot be sent is kept in .error; the thread ends instead of spinning."""
    env = {"NOTIFY_SOCKET": "/nonexistent/sa-notify"}
    thread = WatchdogThread(lambda: True, interval_usec=INTERVAL_USEC, environ=env)
    thread.start()
    deadline = time.monotonic() + 5
    while thread.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.stop(timeout=5)
    assert isinstance(thread.error, OSError)
    assert thread.pings == 0
