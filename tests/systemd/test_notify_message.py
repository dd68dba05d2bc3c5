"""What a notification may hold: what the manager would drop or misread is refused (R33, R40-41)."""

from __future__ import annotations

import os

import pytest

from socket_activation._errors import NotifyMessageError
from socket_activation.systemd.notify import (
    errno_status,
    extend_timeout,
    mainpid,
    status,
)
from socket_activation.systemd.notify_message import MAX_MESSAGE_BYTES, SCM_MAX_FD
from socket_activation.systemd.notify_send import notify
from tests.support.notify_manager import FakeManager


@pytest.mark.parametrize(
    ("state", "nfds", "message"),
    [
        pytest.param("X_" + "a" * (MAX_MESSAGE_BYTES - 1), 0, "4097 bytes", id="4097-bytes"),
        pytest.param("READY=1\0", 0, "NUL byte at offset 7", id="trailing-nul"),
        pytest.param("READY=1\0STATUS=x", 0, "NUL byte", id="embedded-nul"),
        pytest.param("STATUS=\udcff", 0, "not valid UTF-8", id="lone-surrogate"),
        pytest.param("FDSTORE=1", SCM_MAX_FD + 1, "254 fds", id="254-fds"),
    ],
)
def test_messages_the_manager_would_drop_are_refused_before_sending(
    manager: FakeManager, state: str, nfds: int, message: str
) -> None:
    """R40/R41/R33: oversize, NUL and too many fds raise NotifyMessageError; nothing is sent."""
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(NotifyMessageError, match=message):
            notify(state, fds=[read_end] * nfds, environ=manager.env)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert manager.drain() == []


def test_refusals_happen_even_without_a_manager() -> None:
    """A message that could never be delivered is a bug to report now, not when deployed."""
    with pytest.raises(NotifyMessageError):
        notify("a" * (MAX_MESSAGE_BYTES + 1), environ={})


@pytest.mark.parametrize(
    ("send", "message"),
    [
        pytest.param(lambda: status("a\nb", environ={}), "single line", id="status-newline"),
        pytest.param(lambda: status("a\rb", environ={}), "single line", id="status-cr"),
        pytest.param(lambda: errno_status(-5, environ={}), "got -5", id="negative-errno"),
        pytest.param(lambda: errno_status(4096, environ={}), "got 4096", id="errno-too-big"),
        pytest.param(lambda: mainpid(0, environ={}), "got 0", id="mainpid-0"),
        pytest.param(lambda: extend_timeout(-1, environ={}), "got -1", id="extend-negative"),
    ],
)
def test_helpers_refuse_values_the_manager_would_misread(send: object, message: str) -> None:
    """A multi-line STATUS= would inject keys; a negative ERRNO or pid is a caller bug."""
    assert callable(send)
    with pytest.raises(NotifyMessageError, match=message):
        send()
