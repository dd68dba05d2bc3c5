"""The ``Type=notify-reload`` protocol (systemd >= 253), against a socket playing the manager.

systemd 252 on this machine has no ``Type=notify-reload``, so the manager here is a datagram
socket with ``SO_PASSCRED`` that records what a newer systemd would receive. The rules
(systemd's src/core/service.c): after the reload signal, the main process sends
``RELOADING=1`` with ``MONOTONIC_USEC=`` no earlier than the signal (else systemd >= 257 keeps
waiting), then ``READY=1`` when done. There is no message that fails a reload in released
systemd (PR #39745 proposes one), so a failure ends with ``READY=1`` and the reason in
``STATUS=``; ``ExecReload=socket-activation reload`` is what fails ``systemctl reload``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation.restart.readiness import ReadinessSocket
from tests.integration.test_supervise import APP, Supervise
from tests.support.load import Load

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


@pytest.fixture
def sup(listener: socket.socket, tmp_path: Path) -> Iterator[Supervise]:
    started = Supervise(tmp_path, [listener], ["--ready-timeout", "2", "--drain-timeout", "5"])
    started.wait_ready()
    yield started
    started.close()


def wait_notes(sup: Supervise, count: int, timeout: float = 15) -> list[dict[str, str]]:
    """The manager's messages after the first READY=1, once at least *count* arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notes = sup.notes()
        if len([n for n in notes if "RELOADING" in n or "READY" in n]) >= count:
            return notes
    raise AssertionError(f"only {sup.notes()} after {timeout} s; log:\n{sup.text()}")


def reload_messages(notes: list[dict[str, str]]) -> list[dict[str, str]]:
    return [n for n in notes if "RELOADING" in n or "READY" in n]


def test_sighup_sends_reloading_with_a_fresh_timestamp_then_ready(
    sup: Supervise, listener: socket.socket
) -> None:
    """SIGHUP -> RELOADING=1 + MONOTONIC_USEC (>= the signal) -> READY=1 once the new
    generation serves and the old one let go of the socket."""
    first = sup.generation_pid(1)
    before = monotonic_usec()
    os.kill(sup.pid, signal.SIGHUP)
    notes = wait_notes(sup, 2)
    reloading, ready = reload_messages(notes)[:2]
    assert reloading["RELOADING"] == "1"
    assert before <= int(reloading["MONOTONIC_USEC"]) <= monotonic_usec()
    second = sup.generation_pid(2)
    assert ready["READY"] == "1"
    assert ready["STATUS"] == f"generation 2 (pid {second}) serving"
    # by the time READY=1 went out, generation 1 held no listening socket any more
    sup.wait_log(rf"generation 1 \(pid {first}\) exited")
    probe = Load(listener.getsockname(), clients=1)
    assert {probe.one(b"GET / HTTP/1.0\r\n\r\n").pid for _ in range(5)} == {second}


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("exit-before-ready", "exited with status 3"), ("hang", "sent no READY=1 within 2 s")],
)
def test_a_failed_rollout_still_ends_the_reload_with_ready_and_says_why(
    sup: Supervise, listener: socket.socket, fault: str, reason: str
) -> None:
    """READY=1 must follow RELOADING=1 even on failure (or the manager waits out its timeout);
    the STATUS= of that READY=1 says what failed and who keeps serving."""
    first = sup.generation_pid(1)
    sup.set_fault(fault)
    before = monotonic_usec()
    os.kill(sup.pid, signal.SIGHUP)
    reloading, ready = reload_messages(wait_notes(sup, 2))[:2]
    assert reloading["RELOADING"] == "1"
    assert int(reloading["MONOTONIC_USEC"]) >= before
    assert ready["READY"] == "1"
    assert reason in ready["STATUS"]
    assert ready["STATUS"].startswith("reload failed: generation 2 (pid ")
    assert ready["STATUS"].endswith(f"generation 1 (pid {first}) keeps serving")
    probe = Load(listener.getsockname(), clients=1)
    assert probe.one(b"GET / HTTP/1.0\r\n\r\n").pid == first


def test_the_handoff_speaks_the_protocol_when_asked(
    listener: socket.socket, tmp_path: Path
) -> None:
    """Upgrader(notify_reload=True): RELOADING=1 + MONOTONIC_USEC, then MAINPID= and READY=1
    in one message, so NotifyAccess=main accepts both from the old main process."""
    from socket_activation.restart.spawn import spawn_with_sockets

    manager = ReadinessSocket()
    log = tmp_path / "app.log"
    env = dict(
        os.environ,
        NOTIFY_SOCKET=manager.address,
        PYTHONPATH=f"{ROOT / 'src'}:{ROOT}",
        RESTART_APP_LOG=str(log),
    )
    argv = [sys.executable, APP, "--startup", "0.2", "--upgrade-on-hup", "--notify-reload"]
    pid = spawn_with_sockets(argv, [listener.fileno()], ["web"], env)
    try:
        manager.wait_ready(pid, 20)
        before = monotonic_usec()
        os.kill(pid, signal.SIGHUP)
        reloading = manager.wait(10)
        assert reloading.pid == pid
        assert reloading.fields["RELOADING"] == "1"
        assert int(reloading.fields["MONOTONIC_USEC"]) >= before
        done = manager.wait(10)
        assert done.pid == pid
        new = int(done.fields["MAINPID"])
        assert done.fields["READY"] == "1"
        assert new != pid
        assert os.waitpid(pid, 0)[0] == pid  # the old one drains and exits
        pid = new
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        manager.close()
