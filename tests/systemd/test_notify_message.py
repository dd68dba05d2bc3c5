"""What a notification may hold: what the manager would drop or misread is refused (R33, R40-41)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest

from socket_activation._errors import NotifyMessageError
from socket_activation.systemd.notify import (
    errno_status,
    extend_timeout,
    mainpid,
    status,
)
from socket_activation.systemd.notify_message import (
    MAX_MESSAGE_BYTES,
    SCM_MAX_FD,
    encode_message,
    errno_line,
    extend_timeout_line,
    fd_numbers,
    mainpid_line,
    status_line,
)
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


# --- the pure rules, without a socket ------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        pytest.param(lambda: status_line(""), "STATUS=", id="status-empty-clears"),
        pytest.param(lambda: status_line("up: 3 workers"), "STATUS=up: 3 workers", id="status"),
        pytest.param(lambda: errno_line(0), "ERRNO=0", id="errno-0"),
        pytest.param(lambda: errno_line(4095), "ERRNO=4095", id="errno-max"),
        pytest.param(lambda: mainpid_line(1), "MAINPID=1", id="mainpid-1"),
        pytest.param(lambda: extend_timeout_line(0), "EXTEND_TIMEOUT_USEC=0", id="extend-0"),
    ],
)
def test_each_builder_makes_one_assignment(built: Callable[[], str], expected: str) -> None:
    """A value the manager reads as meant becomes exactly one KEY=VALUE line."""
    assert built() == expected


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: status_line("a\nb"), "single line", id="status-newline"),
        pytest.param(lambda: status_line("a\rb"), "single line", id="status-cr"),
        pytest.param(lambda: errno_line(-1), "0..4095, got -1", id="errno-negative"),
        pytest.param(lambda: errno_line(4096), "0..4095, got 4096", id="errno-over-max"),
        pytest.param(lambda: mainpid_line(0), "positive pid, got 0", id="mainpid-0"),
        pytest.param(lambda: extend_timeout_line(-1), ">= 0, got -1", id="extend-negative"),
        pytest.param(lambda: fd_numbers([-1]), "non-negative integer, got -1", id="fd-negative"),
    ],
)
def test_builders_refuse_values_the_manager_would_misread(
    build: Callable[[], object], message: str
) -> None:
    """Each refusal is a NotifyMessageError (a ValueError) that names the field and the value."""
    with pytest.raises(NotifyMessageError, match=re.escape(message)) as info:
        build()
    assert isinstance(info.value, ValueError)


def test_encoding_is_the_utf8_bytes_verbatim_up_to_the_limit() -> None:
    """R28/R40: no framing or trailing newline is added; 4096 bytes pass, 4097 do not."""
    assert encode_message("STATUS=h\u00e9llo\n") == "STATUS=h\u00e9llo\n".encode()
    assert len(encode_message("a" * MAX_MESSAGE_BYTES)) == MAX_MESSAGE_BYTES
    with pytest.raises(NotifyMessageError, match="4097 bytes"):
        encode_message("a" * (MAX_MESSAGE_BYTES + 1))


def test_fd_numbers_take_ints_and_filenos_up_to_scm_max_fd() -> None:
    """R33: ints and objects with fileno() both count; SCM_MAX_FD fds pass, one more does not."""
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(os.dup(read_end), "rb") as handle:
            assert fd_numbers([write_end, handle]) == [write_end, handle.fileno()]
        assert len(fd_numbers([read_end] * SCM_MAX_FD)) == SCM_MAX_FD
        with pytest.raises(NotifyMessageError, match=f"{SCM_MAX_FD} \\(SCM_MAX_FD\\)"):
            fd_numbers([read_end] * (SCM_MAX_FD + 1))
    finally:
        os.close(read_end)
        os.close(write_end)
