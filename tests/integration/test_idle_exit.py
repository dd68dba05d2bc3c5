"""``supervise --exit-idle-time``: exit 0 when the kernel shows no connection; lose nothing.

The test plays the service manager: it holds the listening socket (as a ``.socket`` unit does),
starts supervise on it with a NOTIFY_SOCKET of its own, and starts it again when a connection
waits. The app is tests/support/restart_app.py, an unchanged LISTEN_FDS server.
"""

from __future__ import annotations

import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_supervise import Supervise
from tests.support.load import Load, Sample

pytestmark = pytest.mark.integration

REQUEST = b"GET / HTTP/1.0\r\n\r\n"
SUPERVISE = [sys.executable, "-m", "socket_activation", "supervise"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


def _start(tmp: Path, listener: socket.socket, idle: str = "1") -> Supervise:
    sup = Supervise(tmp, [listener], ["--exit-idle-time", idle, "--drain-timeout", "5"])
    sup.wait_ready()
    return sup


def test_exits_0_with_stopping_after_the_idle_time(listener: socket.socket, tmp_path: Path) -> None:
    sup = _start(tmp_path, listener)
    try:
        time.sleep(0.4)
        assert os.waitpid(sup.pid, os.WNOHANG) == (0, 0), "exited before its idle time"
        assert sup.wait_exit(20) == 0, sup.text()
        notes = sup.notes()
        assert any(n.get("STOPPING") == "1" for n in notes), notes
        assert re.search(
            r"no connection for 1 s \(last sample: queued 0, open 0, took [\d.]+ ms\); "
            "exiting until the next one",
            sup.text(),
        )
        assert any("idle for 1 s" in n.get("STATUS", "") for n in notes), notes
    finally:
        sup.close()


def test_an_open_connection_keeps_it_running(listener: socket.socket, tmp_path: Path) -> None:
    """A client holding a connection without a request for 3 idle times: no exit meanwhile;
    once it is closed, the exit follows."""
    sup = _start(tmp_path, listener)
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as held:
            time.sleep(3.0)
            assert os.waitpid(sup.pid, os.WNOHANG) == (0, 0), sup.text()
            held.sendall(REQUEST)
            assert held.recv(100).startswith(b"HTTP/1.0 200")
        assert sup.wait_exit(20) == 0, sup.text()
    finally:
        sup.close()


def test_steady_load_keeps_it_running(listener: socket.socket, tmp_path: Path) -> None:
    """One client, short requests back to back for twice the idle time: no idle exit.

    The idle time is 3 s, not 1. With 1 s this failed about once in 15 runs before IdleWatch
    confirmed with a burst of samples, and once more in a full CI run after it: a single
    client that stalls for a second (a connect waiting for a SYN retransmission, see
    tests/support/load.py, or the test process starved) leaves the kernel showing no
    connection for that second, which is idle as the option defines it. The failure message
    gives the slowest request, to tell the two apart.
    """
    sup = _start(tmp_path, listener, idle="3")
    try:
        with Load(listener.getsockname(), clients=1) as load:
            time.sleep(6.0)
            alive = os.waitpid(sup.pid, os.WNOHANG) == (0, 0)
        slowest = max((s.latency for s in load.samples), default=0.0)
        assert alive, f"{sup.text()}\nslowest of {len(load.samples)} requests: {slowest:.3f} s"
        assert load.failures() == {}
        assert sup.wait_exit(20) == 0, sup.text()
    finally:
        sup.close()


def test_refused_on_sockets_supervise_bound_itself() -> None:
    result = subprocess.run(
        [*SUPERVISE, "--listen", "127.0.0.1:0", "--exit-idle-time", "1", "--", "sleep", "5"],
        env={k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "--exit-idle-time: needs sockets a service manager holds" in result.stderr


def test_udp_sockets_are_refused_naming_the_fd(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        sup = Supervise(tmp_path, [udp], ["--exit-idle-time", "1"])
        try:
            assert sup.wait_exit(20) != 0
            assert "only listening TCP and Unix stream sockets can be watched" in sup.text()
        finally:
            sup.close()


def test_connections_around_the_exit_are_served_by_the_next_start(
    listener: socket.socket, tmp_path: Path
) -> None:
    """Clients connect at random moments while supervise goes idle and exits, again and again;
    the test starts supervise whenever it exited and a connection waits, as systemd does.
    Every connection is answered: none refused, none reset."""
    samples: list[Sample] = []
    stop = threading.Event()
    load = Load(listener.getsockname(), clients=1)
    rng = random.Random(14)

    def client() -> None:
        while not stop.is_set():
            time.sleep(rng.uniform(0.6, 1.6))  # around the 1 s idle time
            samples.append(load.one(REQUEST))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    starts = 0
    deadline = time.monotonic() + 25
    try:
        # the client stops after 6 starts (or 25 s); its last connection is served too
        while thread.is_alive():
            if starts >= 6 or time.monotonic() > deadline:
                stop.set()
            readable, _, _ = select.select([listener], [], [], 0.2)
            if not readable:
                continue
            scratch = tmp_path / str(starts)
            scratch.mkdir()
            sup = _start(scratch, listener)
            starts += 1
            try:
                assert sup.wait_exit(30) == 0, sup.text()
            finally:
                sup.close()
    finally:
        stop.set()
        thread.join(15)
    assert starts >= 3, f"only {starts} starts"
    assert len(samples) >= 5
    assert [s.outcome for s in samples if s.outcome != "ok"] == []
