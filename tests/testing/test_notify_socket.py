"""The ``notify_socket`` fixture: a manager's end of NOTIFY_SOCKET for in-process code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from socket_activation.systemd import notify as sd
from socket_activation.systemd.fdstore import fdstore_add
from socket_activation.testing import NotifySocket


def open_pipes() -> set[str]:
    """The pipes this process has open, by inode (what a barrier's fd is)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return found


def test_records_what_the_library_sends_with_the_senders_pid(notify_socket: NotifySocket) -> None:
    """NOTIFY_SOCKET is set for the test; every message is kept in order, with our pid."""
    assert os.environ["NOTIFY_SOCKET"] == notify_socket.address
    assert sd.status("warming up")
    assert sd.ready(status="serving")
    note = notify_socket.wait("READY", "1")
    assert note.pid == os.getpid()
    assert [m.fields for m in notify_socket.messages] == [
        {"STATUS": "warming up"},
        {"READY": "1", "STATUS": "serving"},
    ]


def test_barrier_is_answered_as_systemd_answers_it(notify_socket: NotifySocket) -> None:
    """sd_notify_barrier semantics: the manager closes the fd it got, the sender returns;
    no pipe is left open here (each barrier sends one pipe's write end)."""
    before = open_pipes()
    for _ in range(3):
        assert sd.barrier(timeout=5)
    assert notify_socket.barriers == 3
    assert notify_socket.received_fds == []
    assert open_pipes() == before


def test_the_cli_notify_waits_on_the_barrier_and_is_answered(notify_socket: NotifySocket) -> None:
    """``socket-activation notify --ready`` in a child (it waits with BARRIER=1, up to 5 s):
    it returns, and its READY=1 is recorded on behalf of its parent (us), as systemd-notify
    sends it, with the credentials the kernel checked."""
    done = subprocess.run(
        [sys.executable, "-m", "socket_activation", "notify", "--ready", "--status=up"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    note = notify_socket.wait("READY")
    assert note.fields == {"READY": "1", "STATUS": "up"}
    assert note.pid == os.getpid()
    assert notify_socket.barriers == 1


def test_fds_sent_for_the_store_are_kept_and_closed_at_the_end() -> None:
    """FDSTORE=1 fds stay open (a test may look at them) until the socket is closed."""
    read_end, write_end = os.pipe()
    with NotifySocket() as manager:
        env = {"NOTIFY_SOCKET": manager.address}
        assert fdstore_add([write_end], "pipe", environ=env)
        note = manager.wait("FDSTORE", "1")
        assert note.fields == {"FDSTORE": "1", "FDNAME": "pipe"}
        (kept,) = manager.received_fds
        os.close(write_end)
        os.write(kept, b"x")  # the stored copy is a live write end of our pipe
        assert os.read(read_end, 1) == b"x"
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(kept)
    os.close(read_end)


def test_wait_times_out_saying_what_came_instead(notify_socket: NotifySocket) -> None:
    sd.status("still loading")
    with pytest.raises(TimeoutError, match=r"no READY=1 .* within 0.2 s; got \[\{'STATUS'"):
        notify_socket.wait("READY", "1", timeout=0.2)
