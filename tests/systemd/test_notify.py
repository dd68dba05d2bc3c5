"""The notify helpers: each sends its documented message to a real socket playing the manager."""

from __future__ import annotations

import errno
import re
import time

import pytest

from socket_activation._errors import NotifyError
from socket_activation.systemd.notify import (
    NotifyResult,
    barrier,
    errno_status,
    extend_timeout,
    mainpid,
    ready,
    reloading,
    status,
    stopping,
    watchdog_ping,
    watchdog_trigger,
)
from socket_activation.testing import NotifySocket
from tests.support.notify_manager import FakeManager


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        pytest.param(lambda env: ready(environ=env), b"READY=1", id="ready"),
        pytest.param(
            lambda env: ready(status="up", environ=env), b"READY=1\nSTATUS=up", id="ready-status"
        ),
        pytest.param(lambda env: stopping(environ=env), b"STOPPING=1", id="stopping"),
        pytest.param(lambda env: status("3 workers", environ=env), b"STATUS=3 workers", id="st"),
        pytest.param(lambda env: status("", environ=env), b"STATUS=", id="status-clear"),
        pytest.param(lambda env: errno_status(5, environ=env), b"ERRNO=5", id="errno"),
        pytest.param(lambda env: mainpid(4242, environ=env), b"MAINPID=4242", id="mainpid"),
        pytest.param(
            lambda env: extend_timeout(5_000_000, environ=env),
            b"EXTEND_TIMEOUT_USEC=5000000",
            id="extend-timeout",
        ),
        pytest.param(lambda env: watchdog_ping(environ=env), b"WATCHDOG=1", id="watchdog"),
        pytest.param(lambda env: watchdog_trigger(environ=env), b"WATCHDOG=trigger", id="trig"),
    ],
)
def test_helpers_send_the_documented_message(
    manager: FakeManager, send: object, expected: bytes
) -> None:
    """R37: each helper sends exactly its message from the sd_notify vocabulary."""
    assert callable(send)
    assert send(manager.env) is NotifyResult.SENT
    assert manager.receive().payload == expected


def test_reloading_carries_the_monotonic_clock_now(manager: FakeManager) -> None:
    """R38/R60: RELOADING=1 with MONOTONIC_USEC= read from CLOCK_MONOTONIC at the call."""
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reloading(environ=manager.env)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    match = re.fullmatch(rb"RELOADING=1\nMONOTONIC_USEC=(\d+)", manager.receive().payload)
    assert match is not None
    assert before <= int(match.group(1)) <= after


def test_barrier_returns_once_the_manager_closes_the_fd(notify_socket: NotifySocket) -> None:
    """R36: BARRIER=1 alone with one fd; returns SENT after the manager closes that fd."""
    assert barrier(5.0) is NotifyResult.SENT
    assert [(m.payload, m.fd_count) for m in notify_socket.messages] == [(b"BARRIER=1", 1)]


def test_barrier_times_out_when_the_manager_holds_the_fd(manager: FakeManager) -> None:
    """R36: no answer within the timeout raises NotifyError(ETIMEDOUT)."""
    with pytest.raises(NotifyError) as info:
        barrier(0.2, environ=manager.env)
    assert info.value.errno == errno.ETIMEDOUT


def test_barrier_without_a_manager_is_not_configured() -> None:
    """R36: NOTIFY_SOCKET unset gives NOT_CONFIGURED and waits for nothing."""
    assert barrier(environ={}) is NotifyResult.NOT_CONFIGURED
