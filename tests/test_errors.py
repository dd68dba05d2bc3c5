"""The exception tree: ActivationError is an OSError with libsystemd's errno and a ValueError."""

from __future__ import annotations

import errno
import os
import pickle

import pytest

from socket_activation import ActivationError, SocketActivationError, listen_fds


def test_except_oserror_around_listen_fds_catches_a_malformed_environment() -> None:
    """Code written for python-systemd (`except OSError`) keeps working, errno included."""
    with pytest.raises(OSError) as info:  # noqa: PT011 - the builtin is the point
        listen_fds(environ={"LISTEN_PID": "7", "LISTEN_FDS": "3a"}, pid=7)
    assert info.value.errno == errno.EINVAL
    assert info.value.strerror == os.strerror(errno.EINVAL)
    assert isinstance(info.value, ActivationError)


def test_except_valueerror_still_catches_it() -> None:
    """Code written for this library (`except ValueError`) keeps working too."""
    with pytest.raises(ValueError, match=r"LISTEN_PID must be a process id, got 'x'"):
        listen_fds(environ={"LISTEN_PID": "x", "LISTEN_FDS": "1"}, pid=7)


def test_it_reads_as_its_message_and_carries_errno_like_an_oserror() -> None:
    """str() names the variable; errno, strerror and args are an OSError's."""
    exc = ActivationError("LISTEN_FDS must be a positive integer, got '0'", variable="LISTEN_FDS")
    assert isinstance(exc, SocketActivationError)
    assert str(exc) == "LISTEN_FDS must be a positive integer, got '0'"
    assert exc.args == (errno.EINVAL, os.strerror(errno.EINVAL))
    assert (exc.errno, exc.variable, exc.filename) == (errno.EINVAL, "LISTEN_FDS", None)
    assert repr(exc) == (
        "ActivationError(\"LISTEN_FDS must be a positive integer, got '0'\", "
        "variable='LISTEN_FDS', errno=EINVAL)"
    )


@pytest.mark.parametrize("err", [errno.EINVAL, errno.ERANGE, errno.EBADF])
def test_it_survives_pickling(err: int) -> None:
    """Sent to another process (multiprocessing), it keeps message, variable and errno."""
    exc = ActivationError("fd 5 from LISTEN_FDS=3 is not open", variable="LISTEN_FDS", errno=err)
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert type(copy) is ActivationError
    assert (str(copy), copy.variable, copy.errno) == (str(exc), "LISTEN_FDS", err)
