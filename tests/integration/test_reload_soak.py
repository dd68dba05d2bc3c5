"""A soak: 1,000 reloads of supervise under load, through its control socket.

The app is tests/support/tiny_app.py under ``python -I -S`` (a generation starts in the time of
a bare interpreter), so the thousand rollouts take about a minute here. Every reload must
succeed, no request may fail, and supervise must not grow: its open fds are the same after as
before, and its resident memory grows by less than 4 MiB (a leak of one fd or one buffer per
reload would show as 1,000 of them).
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation.restart.reload import request_reload
from tests.integration.test_supervise import Supervise
from tests.support.load import Load

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "support" / "tiny_app.py")
RELOADS = 1000
# resident memory may move by allocator noise; a per-reload leak would be far above this
_RSS_SLACK_KIB = 4096


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    yield sock
    sock.close()


def open_fds(pid: int) -> list[str]:
    return sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid: int) -> list[str]:
    """The open fds once two readings 50 ms apart agree (a /proc read or a client connection
    of the moment is not a leak)."""
    last = open_fds(pid)
    for _ in range(100):
        time.sleep(0.05)
        now = open_fds(pid)
        if now == last:
            return now
        last = now
    return last


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_thousand_reloads_fail_nothing_and_leak_nothing(
    listener: socket.socket, tmp_path: Path
) -> None:
    sup = Supervise(
        tmp_path,
        [listener],
        ["--ready-timeout", "10", "--drain-timeout", "10"],
        command=[sys.executable, "-I", "-S", TINY],
    )
    try:
        sup.wait_ready()
        for _ in range(10):  # warm up: first reloads allocate what every later one reuses
            request_reload(sup.pid, timeout=30)
        fds_before, rss_before = settled_fds(sup.pid), rss_kib(sup.pid)
        started = time.monotonic()
        pids: list[int] = []
        with Load(listener.getsockname(), clients=4) as load:
            for _ in range(RELOADS):
                outcome = request_reload(sup.pid, timeout=30)
                assert outcome.pid is not None
                pids.append(outcome.pid)
        took = time.monotonic() - started
        fds_after, rss_after = settled_fds(sup.pid), rss_kib(sup.pid)
        print(
            f"\n{RELOADS} reloads in {took:.1f} s ({took / RELOADS * 1000:.1f} ms each), "
            f"{len(load.samples)} requests; supervise fds {len(fds_before)} -> {len(fds_after)}, "
            f"RSS {rss_before} -> {rss_after} KiB"
        )
        # a new generation each time (pids are reused over a thousand spawns, never twice running)
        assert all(a != b for a, b in itertools.pairwise(pids))
        assert len(load.samples) > RELOADS
        assert load.failures() == {}, sup.text()[-2000:]
        assert fds_after == fds_before, (fds_before, fds_after)
        assert rss_after - rss_before < _RSS_SLACK_KIB
    finally:
        sup.close()
