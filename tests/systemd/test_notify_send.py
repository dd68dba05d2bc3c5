"""notify(): sending on a real datagram socket playing the manager (SPEC.md D-F, R27-R34)."""

from __future__ import annotations

import errno
import os
import re
import socket
from pathlib import Path

import pytest

from socket_activation._errors import NotifyError
from socket_activation.systemd.notify_message import MAX_MESSAGE_BYTES, SCM_MAX_FD
from socket_activation.systemd.notify_send import NotifyResult, notify
from tests.conftest import require_root
from tests.support.notify_manager import FakeManager


def test_unset_notify_socket_is_not_configured_and_sends_nothing() -> None:
    """R27: without NOTIFY_SOCKET nothing is sent; the result says so and is falsy."""
    result = notify("READY=1", environ={})
    assert result is NotifyResult.NOT_CONFIGURED
    assert not result


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("READY=1", id="plain"),
        pytest.param("READY=1\n", id="trailing-newline-kept"),
        pytest.param("", id="empty-datagram"),
        pytest.param("READY=1\nSTATUS=serving on 127.0.0.1:80", id="two-lines"),
        pytest.param("STATUS=h\u00e9llo \u2713", id="utf-8"),
        pytest.param("X_" + "a" * (MAX_MESSAGE_BYTES - 2), id="exactly-4096-bytes"),
    ],
)
def test_payload_arrives_byte_for_byte(manager: FakeManager, state: str) -> None:
    """R28: the manager receives the state's UTF-8 bytes verbatim, nothing added or removed."""
    result = notify(state, environ=manager.env)
    assert result is NotifyResult.SENT
    assert result
    assert manager.receive().payload == state.encode()


def test_credentials_are_the_senders_own(manager: FakeManager) -> None:
    """R32/R42: with SO_PASSCRED the manager sees our pid, uid and gid."""
    notify("READY=1", environ=manager.env)
    got = manager.receive()
    assert (got.pid, got.uid, got.gid) == (os.getpid(), os.getuid(), os.getgid())


def test_credentials_for_another_live_pid_are_attached_when_privileged(
    manager: FakeManager,
) -> None:
    """R32: pid= another process attaches SCM_CREDENTIALS naming it (root may claim any pid)."""
    require_root()
    other = os.getppid()
    notify("READY=1", pid=other, environ=manager.env)
    assert manager.receive().pid == other


def test_credentials_the_kernel_refuses_are_dropped_and_the_message_still_sent(
    manager: FakeManager,
) -> None:
    """R32: pid=999999 (no such process) fails with ucred, so it is resent with our own."""
    assert notify("MAINPID=999999", pid=999999, environ=manager.env) is NotifyResult.SENT
    got = manager.receive()
    assert (got.payload, got.pid) == (b"MAINPID=999999", os.getpid())


def test_passed_listening_socket_arrives_usable(manager: FakeManager) -> None:
    """R33: an fd passed with the message arrives in the manager and still accepts connections."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        notify("FDSTORE=1\nFDNAME=web", fds=[server], environ=manager.env)
        got = manager.receive()
        assert got.payload == b"FDSTORE=1\nFDNAME=web"
        assert len(got.fds) == 1
        with socket.socket(fileno=os.dup(got.fds[0])) as copy:
            assert copy.getsockname() == server.getsockname()
            with socket.create_connection(copy.getsockname(), timeout=5) as client:
                conn, _ = copy.accept()
                with conn:
                    client.sendall(b"ping")
                    assert conn.recv(4) == b"ping"


def test_many_fds_travel_in_a_single_rights_message(manager: FakeManager) -> None:
    """R33: all fds go in one SCM_RIGHTS cmsg, together with the credentials."""
    read_end, write_end = os.pipe()
    try:
        notify("FDSTORE=1", fds=[read_end, write_end, read_end], pid=999999, environ=manager.env)
        got = manager.receive()
        assert (len(got.fds), got.rights_messages) == (3, 1)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_253_fds_is_the_most_one_message_carries(manager: FakeManager) -> None:
    """R33: SCM_MAX_FD (253) fds are sent and received."""
    read_end, write_end = os.pipe()
    try:
        notify("FDSTORE=1", fds=[read_end] * SCM_MAX_FD, environ=manager.env)
        assert len(manager.receive().fds) == SCM_MAX_FD
    finally:
        os.close(read_end)
        os.close(write_end)


def test_missing_path_fails_with_enoent(short_dir: Path) -> None:
    """R29: a NOTIFY_SOCKET path where nothing exists raises NotifyError(ENOENT) naming it."""
    path = str(short_dir / "absent")
    with pytest.raises(NotifyError, match=re.escape(path)) as info:
        notify("READY=1", environ={"NOTIFY_SOCKET": path})
    assert info.value.errno == errno.ENOENT


def test_stream_socket_fails_with_eprototype(short_dir: Path) -> None:
    """R29: a manager socket that is SOCK_STREAM cannot take datagrams: EPROTOTYPE."""
    path = str(short_dir / "stream")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()
        with pytest.raises(NotifyError) as info:
            notify("READY=1", environ={"NOTIFY_SOCKET": path})
    assert info.value.errno == errno.EPROTOTYPE


def test_socket_with_nobody_bound_fails_with_econnrefused(short_dir: Path) -> None:
    """A stale socket file (the manager exited) is ECONNREFUSED, not a silent success."""
    path = str(short_dir / "stale")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
    with pytest.raises(NotifyError) as info:
        notify("READY=1", environ={"NOTIFY_SOCKET": path})
    assert info.value.errno == errno.ECONNREFUSED


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("vsock-dgram:2:1234", id="dgram-explicit"),
        pytest.param("vsock:2:1234", id="unspecified-falls-back"),
    ],
)
def test_vsock_without_a_reachable_host_fails_cleanly(value: str) -> None:
    """R30: where the kernel has no vsock transport, sending fails with NotifyError naming it."""
    with pytest.raises(NotifyError, match=re.escape(value)) as info:
        notify("READY=1", environ={"NOTIFY_SOCKET": value})
    assert info.value.errno is not None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="sent"),
        pytest.param("/nonexistent/sa-notify", id="failed"),
        pytest.param("bad", id="invalid"),
    ],
)
def test_unset_environment_removes_notify_socket_on_every_path(
    manager: FakeManager, value: str | None
) -> None:
    """R34: NOTIFY_SOCKET is gone afterwards whether the send worked or failed."""
    env = dict(manager.env)
    if value is not None:
        env["NOTIFY_SOCKET"] = value
    try:
        notify("READY=1", unset_environment=True, environ=env)
    except NotifyError:
        assert value is not None
    assert "NOTIFY_SOCKET" not in env


def test_without_unset_environment_notify_socket_stays(manager: FakeManager) -> None:
    """R34: the default leaves the environment alone."""
    env = dict(manager.env)
    notify("READY=1", environ=env)
    assert env == manager.env
