"""The private NOTIFY_SOCKET: parsing, attribution by SCM_CREDENTIALS, waiting for READY=1."""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Iterator, Mapping

import pytest

from socket_activation.restart.readiness import (
    ChildExitedError,
    Notification,
    ReadinessSocket,
    ReadyTimeoutError,
    describe_wait_status,
    parse_notification,
)

# The 2-line sd_notify client a child runs: send argv[1] (with \n escapes) to NOTIFY_SOCKET.
NOTIFY_CLIENT = (
    "import os, socket, sys, time\n"
    "def send(text):\n"
    "    a = os.environ['NOTIFY_SOCKET']; a = '\\0' + a[1:] if a[0] == '@' else a\n"
    "    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s: s.sendto(text.encode(), a)\n"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"READY=1", {"READY": "1"}, id="ready"),
        pytest.param(b"READY=1\n", {"READY": "1"}, id="trailing-newline"),
        pytest.param(
            b"READY=1\nSTATUS=serving on :80", {"READY": "1", "STATUS": "serving on :80"}, id="two"
        ),
        pytest.param(b"STATUS=a=b", {"STATUS": "a=b"}, id="value-with-equals"),
        pytest.param(b"STATUS=x\nSTATUS=y", {"STATUS": "y"}, id="last-wins"),
        pytest.param(b"garbage\n\nMAINPID=42", {"MAINPID": "42"}, id="junk-lines-ignored"),
        pytest.param(b"=1", {}, id="empty-key-ignored"),
        pytest.param(b"STATUS=\xff", {"STATUS": "\ufffd"}, id="invalid-utf8-replaced"),
        pytest.param(b"", {}, id="empty"),
    ],
)
def test_parse_notification_reads_key_value_lines(data: bytes, expected: dict[str, str]) -> None:
    """A datagram is KEY=VALUE lines; anything else is ignored, as the manager does."""
    assert parse_notification(data) == expected


@pytest.mark.parametrize(
    ("text", "mainpid"),
    [
        pytest.param("42", 42, id="number"),
        pytest.param("0", None, id="zero"),
        pytest.param("-3", None, id="negative"),
        pytest.param("4x", None, id="junk"),
        pytest.param("", None, id="empty"),
    ],
)
def test_mainpid_is_a_positive_integer_or_none(text: str, mainpid: int | None) -> None:
    """Only a positive decimal MAINPID= names a process."""
    assert Notification(1, {"MAINPID": text}).mainpid == mainpid


def test_socket_is_abstract_private_cloexec_and_passes_credentials() -> None:
    """On Linux: an abstract @name with a random part, close-on-exec, SO_PASSCRED on."""
    with ReadinessSocket() as a, ReadinessSocket() as b:
        assert a.address.startswith("@socket-activation/notify/")
        assert a.address != b.address
        assert not os.get_inheritable(a.fileno())
        sock = socket.socket(fileno=os.dup(a.fileno()))
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED) == 1
            assert sock.type == socket.SOCK_DGRAM
        finally:
            sock.close()


def test_path_socket_lives_in_a_private_directory_removed_on_close() -> None:
    """Without abstract names: a socket file in a 0700 temp dir, gone after close()."""
    rs = ReadinessSocket(abstract=False)
    try:
        directory = os.path.dirname(rs.address)
        assert stat.S_ISSOCK(os.lstat(rs.address).st_mode)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    finally:
        rs.close()
    assert not os.path.exists(directory)


def test_receive_attributes_a_datagram_to_its_sender() -> None:
    """SCM_CREDENTIALS gives the sender's pid: here our own."""
    with ReadinessSocket() as rs:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"STATUS=hello", "\0" + rs.address[1:])
        note = rs.wait(5)
        assert note == Notification(os.getpid(), {"STATUS": "hello"})
        assert rs.receive() is None


# -- waiting for a real child ------------------------------------------------------------------


class Children:
    """Children started with posix_spawn (we reap them ourselves, as the code under test does)."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def start(self, code: str, env: Mapping[str, str]) -> int:
        argv = [sys.executable, "-c", NOTIFY_CLIENT + code]
        pid = os.posix_spawn(sys.executable, argv, dict(os.environ, **env))
        self.pids.append(pid)
        return pid

    def cleanup(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


@pytest.fixture
def children() -> Iterator[Children]:
    made = Children()
    yield made
    made.cleanup()


def test_wait_ready_returns_the_childs_ready(children: Children) -> None:
    """A child's READY=1 (after a STATUS=) ends the wait; the note carries the child's pid."""
    with ReadinessSocket() as rs:
        pid = children.start(
            "send('STATUS=warming up'); time.sleep(0.1); send('READY=1\\nSTATUS=up')",
            {"NOTIFY_SOCKET": rs.address},
        )
        note = rs.wait_ready(pid, 10)
        assert note.pid == pid
        assert note.fields == {"READY": "1", "STATUS": "up"}


def test_ready_from_another_process_does_not_count(children: Children) -> None:
    """READY=1 from a process that is not the child (an older generation) is passed on, ignored."""
    seen: list[Notification] = []
    with ReadinessSocket() as rs:
        pid = children.start("time.sleep(30)", {"NOTIFY_SOCKET": rs.address})
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", "\0" + rs.address[1:])
        with pytest.raises(ReadyTimeoutError, match=rf"process {pid} sent no READY=1 within 0.5 s"):
            rs.wait_ready(pid, 0.5, on_message=seen.append)
    assert seen == [Notification(os.getpid(), {"READY": "1"})]


def test_ready_from_a_descendant_counts(children: Children) -> None:
    """A wrapper (a shell that forks the server) is fine: its child's READY=1 is accepted."""
    with ReadinessSocket() as rs:
        client = NOTIFY_CLIENT + "send('READY=1')"
        code = (
            "import subprocess\n"
            f"subprocess.run([sys.executable, '-c', {client!r}]); time.sleep(30)\n"
        )
        pid = children.start(code, {"NOTIFY_SOCKET": rs.address})
        note = rs.wait_ready(pid, 10)
        assert note.pid != pid
        assert note.ready


def test_ready_from_the_process_named_by_mainpid_counts(children: Children) -> None:
    """MAINPID= hands the wait over to another process, which may then say READY=1."""
    with ReadinessSocket() as rs:
        other = children.start(
            "time.sleep(0.5); send('READY=1'); time.sleep(30)", {"NOTIFY_SOCKET": rs.address}
        )
        pid = children.start(
            f"send('MAINPID={other}'); time.sleep(30)", {"NOTIFY_SOCKET": rs.address}
        )
        note = rs.wait_ready(pid, 10)
        assert note.pid == other


@pytest.mark.parametrize(
    ("code", "message", "status_text"),
    [
        pytest.param("sys.exit(3)", "exited with status 3", None, id="exit-3"),
        pytest.param(
            "send('STATUS=config broken'); time.sleep(0.2); sys.exit(1)",
            "exited with status 1",
            "config broken",
            id="exit-after-status",
        ),
        pytest.param(
            "os.kill(os.getpid(), 9)", "was killed by SIGKILL", None, id="killed-by-signal"
        ),
    ],
)
def test_child_exiting_before_ready_ends_the_wait_at_once(
    children: Children, code: str, message: str, status_text: str | None
) -> None:
    """An exit before READY=1 is reported at once, with how it exited and its last STATUS=."""
    with ReadinessSocket() as rs:
        pid = children.start(code, {"NOTIFY_SOCKET": rs.address})
        started = time.monotonic()
        with pytest.raises(
            ChildExitedError, match=f"process {pid} {message} before READY=1"
        ) as info:
            rs.wait_ready(pid, 30)
        assert time.monotonic() - started < 10
        assert info.value.last_status == status_text
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


def test_timeout_reports_the_last_status_and_leaves_the_child_running(children: Children) -> None:
    """Past the timeout: the error carries the last STATUS=; the child is left to the caller."""
    with ReadinessSocket() as rs:
        pid = children.start(
            "send('STATUS=still loading'); time.sleep(30)", {"NOTIFY_SOCKET": rs.address}
        )
        with pytest.raises(ReadyTimeoutError) as info:
            rs.wait_ready(pid, 0.5)
        assert info.value.last_status == "still loading"
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)


def test_after_calls_back_once_when_the_wait_runs_long(children: Children) -> None:
    """``after=(S, callback)``: the handoff's starvation guard runs once, S seconds in, and the
    wait goes on to its own end (a READY=1 that comes later still counts)."""
    called: list[float] = []
    with ReadinessSocket() as rs:
        pid = children.start("time.sleep(0.6); send('READY=1')", {"NOTIFY_SOCKET": rs.address})
        started = time.monotonic()
        note = rs.wait_ready(pid, 10, after=(0.2, lambda: called.append(time.monotonic())))
        assert note.pid == pid
        assert len(called) == 1
        assert 0.2 <= called[0] - started < 0.55


def test_after_is_not_called_when_ready_comes_first(children: Children) -> None:
    called: list[float] = []
    with ReadinessSocket() as rs:
        pid = children.start("send('READY=1')", {"NOTIFY_SOCKET": rs.address})
        rs.wait_ready(pid, 10, after=(5.0, lambda: called.append(0.0)))
    assert called == []


@pytest.mark.parametrize(
    ("status", "text"),
    [
        pytest.param(0, "exited with status 0", id="exit-0"),
        pytest.param(2 << 8, "exited with status 2", id="exit-2"),
        pytest.param(signal.SIGTERM, "was killed by SIGTERM", id="sigterm"),
    ],
)
def test_describe_wait_status(status: int, text: str) -> None:
    """Wait statuses read as sentences."""
    assert describe_wait_status(status) == text


def test_wait_times_out_when_nothing_comes() -> None:
    """wait() gives up after its timeout with TimeoutError naming the socket."""
    with (
        ReadinessSocket() as rs,
        pytest.raises(TimeoutError, match=r"no notification within 0\.2 s"),
    ):
        rs.wait(0.2)
