"""sd_notify against a real datagram socket playing the manager (SPEC.md D-F, R27-R41)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation._errors import NotifyError, NotifyMessageError
from socket_activation.systemd.notify import (
    MAX_MESSAGE_BYTES,
    SCM_MAX_FD,
    NotifyResult,
    barrier,
    errno_status,
    extend_timeout,
    mainpid,
    notify,
    parse_notify_socket,
    ready,
    reloading,
    status,
    stopping,
    watchdog_ping,
    watchdog_trigger,
)
from tests.conftest import require_root
from tests.support.notify_manager import FakeManager, abstract_manager, path_manager


@pytest.fixture(params=["path", "abstract"])
def manager(request: pytest.FixtureRequest) -> Iterator[FakeManager]:
    """The manager's socket, once at a filesystem path and once at an abstract name."""
    yield from (path_manager() if request.param == "path" else abstract_manager())


@pytest.fixture
def short_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory)


# --- result and payload ------------------------------------------------------------------------


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


# --- fds ---------------------------------------------------------------------------------------


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


# --- refused before sending --------------------------------------------------------------------


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


# --- addresses and failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "family", "sock_type", "address"),
    [
        pytest.param("/run/notify", socket.AF_UNIX, socket.SOCK_DGRAM, b"/run/notify", id="path"),
        pytest.param("@sd", socket.AF_UNIX, socket.SOCK_DGRAM, b"\0sd", id="abstract-no-nul"),
        pytest.param("vsock:2:1234", socket.AF_VSOCK, 0, (2, 1234), id="vsock"),
        pytest.param("vsock-stream:host:5", socket.AF_VSOCK, socket.SOCK_STREAM, (2, 5), id="vs"),
        pytest.param(
            "vsock-dgram:hypervisor:7", socket.AF_VSOCK, socket.SOCK_DGRAM, (0, 7), id="vd"
        ),
        pytest.param(
            "vsock-seqpacket:local:0x10", socket.AF_VSOCK, socket.SOCK_SEQPACKET, (1, 16), id="vq"
        ),
        pytest.param("vsock:3:0", socket.AF_VSOCK, 0, (3, 0), id="vsock-port-0"),
    ],
)
def test_notify_socket_values_parse_like_libsystemd(
    value: str, family: int, sock_type: int, address: object
) -> None:
    """R29/R30: path, abstract (leading NUL, no trailing NUL) and the vsock forms."""
    parsed = parse_notify_socket(value)
    assert (parsed.family, parsed.type, parsed.address) == (family, sock_type, address)


@pytest.mark.parametrize(
    ("value", "err"),
    [
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("/", errno.EINVAL, id="slash-only"),
        pytest.param("@", errno.EINVAL, id="at-only"),
        pytest.param("run/notify", errno.EINVAL, id="relative"),
        pytest.param("/" + "a" * 107, errno.ENAMETOOLONG, id="path-108-bytes"),
        pytest.param("@" + "a" * 107, errno.EINVAL, id="abstract-108-bytes"),
        pytest.param("vsock:2", errno.EINVAL, id="vsock-no-port"),
        pytest.param("vsock::1234", errno.EINVAL, id="vsock-empty-cid"),
        pytest.param("vsock:any:1234", errno.EINVAL, id="vsock-any-cid"),
        pytest.param("vsock:2:4294967295", errno.EINVAL, id="vsock-port-any"),
        pytest.param("vsock:2:4294967296", errno.ERANGE, id="vsock-port-overflow"),
        pytest.param("vsock:2:x", errno.EINVAL, id="vsock-port-garbage"),
        pytest.param("tcp:127.0.0.1:1", errno.EINVAL, id="other-scheme"),
    ],
)
def test_bad_notify_socket_values_fail_with_libsystemds_errno(value: str, err: int) -> None:
    """R29/R30: malformed NOTIFY_SOCKET fails (NotifyError) with the errno libsystemd returns."""
    with pytest.raises(NotifyError) as info:
        notify("READY=1", environ={"NOTIFY_SOCKET": value})
    assert info.value.errno == err
    assert f"NOTIFY_SOCKET={value!r}" in str(info.value)


def test_a_107_byte_path_is_the_longest_accepted(short_dir: Path) -> None:
    """R29: strlen+1 must fit in sun_path[108]: a real socket at a 107-byte path is reached."""
    path = str(short_dir / "n")
    path += "x" * (107 - len(path))
    assert len(path.encode()) == 107
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        notify("READY=1", environ={"NOTIFY_SOCKET": path})
        assert sock.recv(100) == b"READY=1"


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


# --- unset_environment -------------------------------------------------------------------------


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


# --- helpers -----------------------------------------------------------------------------------


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


# --- barrier -----------------------------------------------------------------------------------


def test_barrier_returns_once_the_manager_closes_the_fd(manager: FakeManager) -> None:
    """R36: BARRIER=1 alone with one fd; returns SENT after the manager closes that fd."""
    seen: list[tuple[bytes, int]] = []

    def answer() -> None:
        got = manager.receive()
        seen.append((got.payload, len(got.fds)))
        for fd in got.fds:
            manager.close_fd(fd)

    responder = threading.Thread(target=answer)
    responder.start()
    try:
        assert barrier(5.0, environ=manager.env) is NotifyResult.SENT
    finally:
        responder.join(10)
    assert seen == [(b"BARRIER=1", 1)]


def test_barrier_times_out_when_the_manager_holds_the_fd(manager: FakeManager) -> None:
    """R36: no answer within the timeout raises NotifyError(ETIMEDOUT)."""
    with pytest.raises(NotifyError) as info:
        barrier(0.2, environ=manager.env)
    assert info.value.errno == errno.ETIMEDOUT


def test_barrier_without_a_manager_is_not_configured() -> None:
    """R36: NOTIFY_SOCKET unset gives NOT_CONFIGURED and waits for nothing."""
    assert barrier(environ={}) is NotifyResult.NOT_CONFIGURED
