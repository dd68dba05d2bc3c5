"""IdleWatch on real listening sockets, with a clock the test moves."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from socket_activation.restart.idle import (
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
