"""supervise --spare-cpus and the handoff's spare_cpus, on real processes: a generation that
starts runs only on the spare CPU until READY=1, then where its starter runs; the generation it
replaces drains on the spare CPU; every thread of the one serving is back (also after several
handoffs in a row, where a thread born during the restore used to stay behind). supervise
itself runs on the spare CPU, and a generation that replaces a dead one is born on the serving
CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.restart import affinity, tasks
from socket_activation.restart.readiness import ReadinessSocket
from socket_activation.restart.spawn import spawn_with_sockets
from tests.conftest import require
from tests.integration.test_start_nice import children_of
from tests.integration.test_supervise import APP, ROOT, Supervise
from tests.support.load import Load

pytestmark = pytest.mark.integration


@pytest.fixture
def cpus() -> tuple[int, int]:
    """(the CPU to serve on, the spare one)."""
    usable = sorted(affinity.usable_cpus() & os.sched_getaffinity(0))
    require(len(usable) >= 2, "needs two usable CPUs")
    return usable[0], usable[-1]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def masks(pid: int) -> set[frozenset[int]]:
    """The distinct CPU affinities of *pid*'s threads (a thread gone meanwhile left out)."""
    found = set()
    for task in tasks.threads(pid):
        with contextlib.suppress(ProcessLookupError):
            found.add(frozenset(os.sched_getaffinity(task)))
    return found


def policies(pid: int) -> set[int]:
    found = set()
    for task in tasks.threads(pid):
        with contextlib.suppress(ProcessLookupError):
            found.add(os.sched_getscheduler(task))
    return found


def test_supervise_starts_on_the_spare_cpu_and_drains_there(
    listener: socket.socket, tmp_path: Path, cpus: tuple[int, int]
) -> None:
    serve, spare = cpus
    command = [sys.executable, APP, "--startup", "1.0"]
    wrap = ["taskset", "-c", str(serve)]
    sup = Supervise(tmp_path, [listener], ["--spare-cpus", str(spare)], command, wrap=wrap)
    slow = None
    try:
        sup.wait_ready()
        first = sup.generation_pid(1)
        assert masks(first) == {frozenset({serve})}
        assert masks(sup.pid) == {frozenset({spare})}  # supervise's own work runs there too
        # a 2 s request keeps generation 1 draining after generation 2 is ready
        slow = Load(listener.getsockname(), clients=1, path="/slow").start()
        time.sleep(0.2)
        os.kill(sup.pid, signal.SIGHUP)
        second = sup.generation_pid(2)
        time.sleep(0.4)  # in its 1 s start-up
        assert masks(second) == {frozenset({spare})}
        sup.wait_log(r"generation 2 \(pid \d+\) is ready; generation 1 \(pid \d+\) is draining")
        assert masks(second) == {frozenset({serve})}
        assert masks(first) == {frozenset({spare})}  # still draining its slow request
        assert "are also CPUs supervise runs on" not in sup.text()
    finally:
        if slow is not None:
            samples = slow.stop()
            assert all(s.outcome == "ok" for s in samples), samples
        sup.close()


def test_supervise_restarts_a_dead_generation_on_the_serving_cpu(
    listener: socket.socket, tmp_path: Path, cpus: tuple[int, int]
) -> None:
    """Nothing serves while the replacement of a crashed generation starts: supervise (on the
    spare CPU) spawns it on the serving CPU, at normal priority, not on its own CPU."""
    serve, spare = cpus
    wrap = ["taskset", "-c", str(serve)]
    sup = Supervise(tmp_path, [listener], ["--spare-cpus", str(spare)], wrap=wrap)
    try:
        sup.wait_ready()
        assert masks(sup.pid) == {frozenset({spare})}
        os.kill(sup.generation_pid(1), signal.SIGKILL)
        second = sup.generation_pid(2)
        assert masks(second) == {frozenset({serve})}
        assert policies(second) == {os.SCHED_OTHER}
    finally:
        sup.close()


LIBRARY_CALLER = """
import os, socket, sys
from socket_activation.restart.supervisor import Supervisor
serve, spare = int(sys.argv[1]), int(sys.argv[2])
os.sched_setaffinity(0, {serve})
listener = socket.create_server(("127.0.0.1", 0))
child = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
supervisor = Supervisor(child, [listener], ["web"], ready="started", spare_cpus={spare})
status = supervisor.run()
print(status, sorted(os.sched_getaffinity(0)), flush=True)
"""


def test_a_library_caller_of_run_gets_its_cpus_back(cpus: tuple[int, int]) -> None:
    """Supervisor.run() moves its process onto the spare CPU for the run and back after; the
    first generation (nothing serves yet) is born on the caller's CPU."""
    serve, spare = cpus
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_CALLER, str(serve), str(spare)],
        capture_output=True, text=True, timeout=30, check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"[{serve}]", f"0 [{serve}]"]


def test_supervise_says_when_the_spare_cpus_are_its_own(
    listener: socket.socket, tmp_path: Path, cpus: tuple[int, int]
) -> None:
    """Without taskset, supervise runs on every CPU: the serving generation shares the spare
    one, and the log says so."""
    _serve, spare = cpus
    sup = Supervise(tmp_path, [listener], ["--spare-cpus", str(spare)])
    try:
        sup.wait_ready()
        sup.wait_log(rf"spare CPUs {spare} are also CPUs supervise runs on")
    finally:
        sup.close()


def test_supervise_refuses_a_cpu_it_cannot_use(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "socket_activation", "supervise", "--spare-cpus", "4096",
         "--listen", "127.0.0.1:0", "--", "true"],
        capture_output=True, text=True, timeout=30, check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--spare-cpus" in result.stderr
    assert "'4096': CPU 4096 cannot be used here" in result.stderr


def test_handoff_moves_each_new_process_back_and_the_old_one_aside(
    listener: socket.socket, cpus: tuple[int, int]
) -> None:
    """Three handoffs in a row under a light load: each new process starts on the spare CPU,
    then every thread of it serves on the serving CPU at SCHED_OTHER; the old one leaves on
    the spare CPU."""
    serve, spare = cpus
    manager = ReadinessSocket()
    env = dict(os.environ, NOTIFY_SOCKET=manager.address, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
    argv = ["taskset", "-c", str(serve), sys.executable, APP, "--startup", "0.6"]
    argv += ["--upgrade-on-hup", "--spare-cpus", str(spare)]
    current = spawn_with_sockets(argv, [listener.fileno()], ["web"], env)
    started = [current]
    load = Load(listener.getsockname(), clients=2)
    try:
        manager.wait_ready(current, 20)
        load.start()
        for _ in range(3):
            current = hand_over(current, cpus)
            started.append(current)
        samples = load.stop()
        assert samples
        assert all(s.outcome == "ok" for s in samples)
    finally:
        with contextlib.suppress(RuntimeError):
            load.stop()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(started[0], 0)
        manager.close()


def hand_over(old: int, cpus: tuple[int, int]) -> int:
    """SIGHUP *old*; check where its successor runs before and after, and where *old* leaves."""
    serve, spare = cpus
    os.kill(old, signal.SIGHUP)
    new = wait_for(lambda: next(iter(children_of(old)), 0), "no successor started")
    time.sleep(0.3)  # in its 0.6 s start-up
    assert masks(new) == {frozenset({spare})}
    # the old process moves itself aside once it has handed over, then exits
    wait_for(lambda: masks(old) in ({frozenset({spare})}, set()), "not set aside")
    wait_for(lambda: not _alive(old), "the old process did not exit")
    time.sleep(0.2)  # the new one's threads, started after READY=1, are running
    assert masks(new) == {frozenset({serve})}
    assert policies(new) == {os.SCHED_OTHER}
    return new


def wait_for(probe: Callable[[], int | bool], failure: str, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return int(value)
        time.sleep(0.02)
    raise AssertionError(failure)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
