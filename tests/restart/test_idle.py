"""IdleWatch on real listening sockets, with a clock the test moves."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from socket_activation.net.sockdiag import Activity
from socket_activation.restart.idle import (
    CONFIRM_GAP,
    CONFIRM_SAMPLES,
    MIN_IDLE_SAMPLES,
    IdleWatch,
    SockDiagError,
    check_interval,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def test_idle_only_after_the_whole_time_without_a_connection(listener: socket.socket) -> None:
    clock = Clock()
    watch = IdleWatch([listener], 2.0, clock=clock)
    assert watch.interval == 0.2
    for _ in range(9):  # 0.2 .. 1.8 s
        clock.now += 0.2
        assert not watch.sample()
    clock.now += 0.2
    assert watch.sample()


def test_sparse_samples_need_several_idle_ones_in_a_row(listener: socket.socket) -> None:
    """Samples 3 s apart (costly ones) with S = 1 s: one idle sample is not enough."""
    clock = Clock()
    watch = IdleWatch([listener], 1.0, clock=clock)
    for _ in range(MIN_IDLE_SAMPLES - 1):
        clock.now += 3.0
        assert not watch.sample()
    clock.now += 3.0
    assert watch.sample()


def test_a_queued_connection_restarts_the_clock(listener: socket.socket) -> None:
    clock = Clock()
    watch = IdleWatch([listener], 1.0, clock=clock)
    clock.now += 0.9
    with socket.create_connection(listener.getsockname()):
        time.sleep(0.02)
        assert not watch.sample()
        assert watch.last[0].queued == 1
        clock.now += 5
        assert not watch.sample()  # still queued: busy however long
    accepted, _ = listener.accept()
    accepted.close()
    time.sleep(0.02)
    assert not watch.sample()  # the clock starts again from the last busy sample
    for _ in range(MIN_IDLE_SAMPLES - 2):
        clock.now += 0.2
        assert not watch.sample()
    clock.now += 1.0
    assert watch.sample()


def test_due_waits_for_the_interval(listener: socket.socket) -> None:
    clock = Clock()
    # a free sample (cost_clock still): the interval stays 0.05 s
    watch = IdleWatch([listener], 0.5, clock=clock, cost_clock=lambda: 0.0)
    assert watch.next_sample == clock.now + 0.05
    assert not watch.due()
    for _ in range(MIN_IDLE_SAMPLES - 1):
        clock.now += 0.05
        assert not watch.due()  # due and sampled, but not idle long enough yet
    clock.now += 0.5
    assert watch.due()


def test_busy_restarts_the_clock(listener: socket.socket) -> None:
    clock = Clock()
    watch = IdleWatch([listener], 1.0, clock=clock)
    clock.now += 0.8
    watch.busy()
    clock.now += 0.8
    assert not watch.sample()


def test_bad_arguments_are_refused(listener: socket.socket) -> None:
    with pytest.raises(ValueError, match="positive"):
        IdleWatch([listener], 0)
    with pytest.raises(ValueError, match="no listening socket"):
        IdleWatch([], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(SockDiagError):
        IdleWatch([udp], 1)


def test_check_interval_is_a_tenth_within_bounds() -> None:
    assert check_interval(0.1) == 0.05
    assert check_interval(3) == pytest.approx(0.3)
    assert check_interval(600) == 1.0


def test_a_costly_sample_stretches_the_interval(listener: socket.socket) -> None:
    """A sample that took 20 ms waits 2 s before the next: sampling stays under 1% of a CPU."""
    clock = Clock()
    costs = iter([0.0, 0.020])
    watch = IdleWatch([listener], 1.0, clock=clock, cost_clock=lambda: next(costs))
    watch.sample()
    assert watch.cost == pytest.approx(0.020)
    assert watch.next_sample == pytest.approx(clock.now + 2.0)


class Script:
    """A probe that answers from a script: True = a connection open, False = nothing."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.calls = 0

    def __call__(self, sock: socket.socket) -> Activity:
        busy = self.answers[self.calls] if self.calls < len(self.answers) else False
        self.calls += 1
        return Activity(queued=0, connections=1 if busy else 0)


def test_idle_is_confirmed_by_a_burst_of_samples(listener: socket.socket) -> None:
    """Once the periodic samples say idle, CONFIRM_SAMPLES more, CONFIRM_GAP apart, must too."""
    clock = Clock()
    pauses: list[float] = []
    probe = Script([])
    watch = IdleWatch([listener], 1.0, clock=clock, probe=probe, pause=pauses.append)
    for _ in range(9):
        clock.now += 0.1
        assert not watch.sample()
    assert pauses == []  # no burst before the idle time is up
    clock.now += 0.1
    assert watch.sample()
    assert probe.calls == 10 + CONFIRM_SAMPLES
    assert pauses == [CONFIRM_GAP] * CONFIRM_SAMPLES


def test_a_connection_seen_by_the_burst_restarts_the_clock(listener: socket.socket) -> None:
    """A steady load that the periodic samples happened to miss (they fell between requests)
    shows in the burst: not idle, and the whole idle time starts again."""
    clock = Clock()
    last_burst_sample = 10 + CONFIRM_SAMPLES - 1
    probe = Script([i == last_burst_sample for i in range(last_burst_sample + 1)])
    watch = IdleWatch([listener], 1.0, clock=clock, probe=probe, pause=lambda s: None)
    for _ in range(10):
        clock.now += 0.1
        assert not watch.sample()
    assert probe.calls == 10 + CONFIRM_SAMPLES
    assert watch.last[0].connections == 1
    for _ in range(9):  # the time is counted again from the burst
        clock.now += 0.1
        assert not watch.sample()
    clock.now += 0.1
    assert watch.sample()


LOAD = """
import socket, sys, threading, time
listener = socket.socket(fileno=int(sys.argv[1]))
end = time.monotonic() + float(sys.argv[2])

def serve():
    listener.settimeout(0.2)
    while time.monotonic() < end:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.recv(100)
            conn.sendall(b"ok")

threading.Thread(target=serve, daemon=True).start()
while time.monotonic() < end:
    with socket.create_connection(listener.getsockname(), timeout=5) as sock:
        sock.sendall(b"x")
        sock.recv(100)
"""


def test_a_steady_sequential_client_is_never_judged_idle(listener: socket.socket) -> None:
    """One client in another process, short requests back to back: the kernel shows its
    connection only part of the time, so runs of idle samples happen (the test checks that
    they do), yet no idle decision is taken: the burst sees the load."""
    import subprocess
    import sys

    load = subprocess.Popen(
        [sys.executable, "-c", LOAD, str(listener.fileno()), "15"], pass_fds=[listener.fileno()]
    )
    try:
        time.sleep(0.3)
        clock = Clock()
        pauses: list[float] = []
        # S = one interval: the burst comes after MIN_IDLE_SAMPLES idle samples in a row
        watch = IdleWatch([listener], 0.05, clock=clock, pause=pauses.append)
        decisions = bursts = 0
        deadline = time.monotonic() + 12
        while bursts < 10 and time.monotonic() < deadline:
            clock.now += watch.interval
            before = len(pauses)
            if watch.sample():
                decisions += 1
            bursts += len(pauses) > before  # the periodic samples alone would have said idle
            time.sleep(0.003)
        assert load.poll() is None, "the load ended early"
        # the situation this is about arose (under heavy CPU contention the load shows more
        # often, so the runs are rarer: 0 in 1 of 5 tries beside two busy loops)
        assert bursts >= 1, f"no run of {MIN_IDLE_SAMPLES} idle samples in 12 s"
        assert decisions == 0, f"{decisions} idle decisions under a steady load"
    finally:
        load.kill()
        load.wait(5)
