"""The generations bookkeeping of ``supervise``: start, promote, drain, time out, kill, reap.

Real child processes on a real loopback listener and a real readiness socket; the test plays the
loop, feeding notifications, exits and deadlines to :class:`Generations` and collecting the
events it returns.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from socket_activation.restart.generations import (
    Event,
    Exited,
    Generations,
    Message,
    Outcome,
    exit_code,
)
from socket_activation.restart.readiness import Notification, ReadinessSocket
from tests.conftest import require_root

# A generation: MODE is ready (READY=1, then a STATUS= report), silent, exit-3 or stubborn
# (ready, and ignores SIGTERM). It then waits to be stopped.
CHILD = """
import json, os, signal, socket, sys, time
mode = sys.argv[1]
if mode == 'exit-3':
    sys.exit(3)
if mode == 'stubborn':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
def send(text):
    a = os.environ['NOTIFY_SOCKET']; a = '\\0' + a[1:] if a[0] == '@' else a
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), a)
if mode != 'silent':
    send('READY=1')
    report = {
        'listen_pid_is_mine': os.environ.get('LISTEN_PID') == str(os.getpid()),
        'names': os.environ.get('LISTEN_FDNAMES'),
        'address': list(socket.socket(fileno=3).getsockname()),
        'notify': os.environ['NOTIFY_SOCKET'],
    }
    send('STATUS=' + json.dumps(report))
time.sleep(60)
"""


def child(mode: str) -> list[str]:
    return [sys.executable, "-c", CHILD, mode]


class Loop:
    """The test's stand-in for the supervisor loop: one readiness socket, events collected."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.readiness = ReadinessSocket()
        self.made: list[Generations] = []
        self.logged: list[str] = []
        self.backlog: list[Event] = []  # events that came with the ones a caller waited for

    def generations(self, argv: list[str], **options: object) -> Generations:
        gens = Generations(
            argv,
            [self.listener],
            ["web"],
            dict(os.environ),
            log=self.logged.append,
            **options,  # type: ignore[arg-type]
        )
        self.made.append(gens)
        return gens

    def run_until(
        self, gens: Generations, done: Callable[[list[Event]], bool], timeout: float = 15.0
    ) -> list[Event]:
        """Feed *gens* until *done* says the events so far (backlog first) are enough."""
        events, self.backlog = self.backlog, []
        deadline = time.monotonic() + timeout
        while not done(events):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"gave up waiting; events so far: {events}"
            select.select([self.readiness], [], [], min(0.05, remaining))
            for note in self.readiness.drain():
                events += gens.notified(note)
            events += gens.reap()
            events += gens.check_deadlines()
        return events

    def close(self) -> None:
        for gens in self.made:
            gens.kill_all()
        self.readiness.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    made = Loop(listener)
    yield made
    made.close()
    listener.close()


def outcomes(events: list[Event]) -> list[Outcome]:
    return [e for e in events if isinstance(e, Outcome)]


def exits(events: list[Event]) -> list[Exited]:
    return [e for e in events if isinstance(e, Exited)]


def start_ready(loop: Loop, gens: Generations) -> Outcome:
    assert gens.start(loop.readiness.address) == []
    assert gens.rolling_out
    events = loop.run_until(gens, lambda ev: bool(outcomes(ev)))
    (outcome,) = outcomes(events)
    loop.backlog = [e for e in events if e is not outcome]  # the old one may be gone already
    return outcome


def test_a_generation_gets_the_sockets_and_serves_once_it_says_ready(loop: Loop) -> None:
    """Sockets at fd 3 named by LISTEN_FDNAMES, its own LISTEN_PID, our NOTIFY_SOCKET; on
    READY=1 it serves, and its later STATUS= comes back as a Message."""
    gens = loop.generations(child("ready"))
    outcome = start_ready(loop, gens)
    assert outcome.ready
    assert outcome.result == "ready"
    assert outcome.number == 1
    assert outcome.replaced is None
    serving = gens.serving
    assert serving is not None
    assert outcome.generation is serving
    assert serving.state == "serving"
    assert not gens.rolling_out
    assert len(gens) == 1
    assert gens.count == 1
    events = loop.run_until(gens, lambda ev: any(isinstance(e, Message) for e in ev))
    (message,) = events
    assert isinstance(message, Message)
    assert message.generation is gens.serving
    report = json.loads(message.note.fields["STATUS"])
    assert report == {
        "listen_pid_is_mine": True,
        "names": "web",
        "address": list(loop.listener.getsockname()),
        "notify": loop.readiness.address,
    }
    assert f"started generation 1 (pid {serving.pid})" in loop.logged


def test_a_ready_generation_replaces_the_serving_one_which_drains(loop: Loop) -> None:
    """The replaced generation is SIGTERMed and, once reaped, is an Exited in state draining."""
    gens = loop.generations(child("ready"))
    first = start_ready(loop, gens).generation
    second = start_ready(loop, gens)
    assert second.number == 2
    assert second.replaced is first
    assert first is not None
    assert first.state == "draining"
    assert first.deadline is not None
    (gone,) = exits(loop.run_until(gens, lambda ev: bool(exits(ev))))
    assert gone.generation is first
    assert gone.generation.state == "draining"
    assert gone.how == "was killed by SIGTERM"
    assert gone.exit_code == 128 + signal.SIGTERM
    assert first.status == gone.status
    assert len(gens) == 1
    assert gens.serving is second.generation


def test_a_generation_exiting_before_ready_is_an_exited_outcome(loop: Loop) -> None:
    """Its rollout ends "exited" with the wait status; nothing serves, nothing is left."""
    gens = loop.generations(child("exit-3"))
    outcome = start_ready(loop, gens)
    assert outcome.result == "exited"
    assert not outcome.ready
    assert outcome.reason == "exited with status 3"
    assert outcome.exit_code == 3
    assert gens.serving is None
    assert len(gens) == 0
    assert not gens.rolling_out


def test_a_silent_generation_times_out_and_is_stopped(loop: Loop) -> None:
    """Past ready_timeout it is a "timed-out" outcome, SIGTERMed; its exit is an Exited (failed)."""
    gens = loop.generations(child("silent"), ready_timeout=0.3)
    outcome = start_ready(loop, gens)
    assert outcome.result == "timed-out"
    assert outcome.reason == "sent no READY=1 within 0.3 s; stopping it"
    assert outcome.generation is not None
    assert outcome.generation.state == "failed"
    (gone,) = exits(loop.run_until(gens, lambda ev: bool(exits(ev))))
    assert gone.generation is outcome.generation
    assert gone.how == "was killed by SIGTERM"


def test_a_generation_outliving_its_drain_deadline_is_killed(loop: Loop) -> None:
    """An old generation that ignores SIGTERM gets SIGKILL after drain_timeout."""
    gens = loop.generations(child("stubborn"), drain_timeout=0.3)
    first = start_ready(loop, gens).generation
    start_ready(loop, gens)
    (gone,) = exits(loop.run_until(gens, lambda ev: bool(exits(ev))))
    assert gone.generation is first
    assert gone.how == "was killed by SIGKILL"
    assert f"{first} still running after its deadline; sending SIGKILL" in loop.logged


def test_a_command_that_cannot_be_spawned_is_a_not_started_outcome(loop: Loop) -> None:
    """No process, no generation: the outcome carries the number and the spawn error."""
    gens = Generations(["/nonexistent/server"], [], [], {}, log=loop.logged.append)
    (outcome,) = gens.start(loop.readiness.address)
    assert isinstance(outcome, Outcome)
    assert outcome.result == "not-started"
    assert outcome.number == 1
    assert outcome.generation is None
    assert "No such file" in outcome.reason
    assert len(gens) == 0
    assert gens.count == 1
    assert loop.logged == [f"cannot start generation 1 ('/nonexistent/server'): {outcome.reason}"]


def test_ready_started_counts_a_generation_as_ready_when_spawned(loop: Loop) -> None:
    gens = loop.generations(child("silent"), ready="started")
    (outcome,) = gens.start(loop.readiness.address)
    assert isinstance(outcome, Outcome)
    assert outcome.ready
    assert gens.serving is outcome.generation
    assert not gens.rolling_out


def test_stop_signals_every_generation_and_ends_the_rollout(loop: Loop) -> None:
    """The serving one exits as an Exited, the starting one's rollout ends "exited"."""
    gens = loop.generations(child("ready"))
    serving = start_ready(loop, gens).generation
    gens.argv = child("silent")  # the next generation never says READY=1
    assert gens.start(loop.readiness.address) == []
    gens.stop(signal.SIGTERM)
    assert gens.stopping == signal.SIGTERM
    events = loop.run_until(gens, lambda ev: bool(exits(ev)) and bool(outcomes(ev)))
    (gone,) = exits(events)
    (ended,) = outcomes(events)
    assert gone.generation is serving
    assert gone.how == "was killed by SIGTERM"
    assert ended.result == "exited"
    assert ended.reason == "was killed by SIGTERM"
    assert gens.serving is None
    assert len(gens) == 0


def test_notifications_from_other_processes_are_ignored(loop: Loop) -> None:
    gens = loop.generations(child("silent"))
    assert gens.start(loop.readiness.address) == []
    assert gens.notified(Notification(os.getpid(), {"READY": "1"})) == []
    assert gens.notified(Notification(None, {"READY": "1"})) == []
    assert gens.rolling_out
    assert gens.serving is None


def test_children_that_are_no_generation_are_reaped_silently(loop: Loop) -> None:
    """As PID 1, orphans re-parented to us are reaped and produce no event."""
    gens = loop.generations(child("silent"))
    stranger = os.posix_spawn("/bin/true", ["true"], {})
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{stranger}/stat") and _state(stranger) != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert gens.reap() == []
    with pytest.raises(ChildProcessError):
        os.waitpid(stranger, os.WNOHANG)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(0, 0, id="exit-0"),
        pytest.param(3 << 8, 3, id="exit-3"),
        pytest.param(signal.SIGKILL, 128 + signal.SIGKILL, id="sigkill"),
        pytest.param(signal.SIGTERM, 128 + signal.SIGTERM, id="sigterm"),
    ],
)
def test_exit_code_is_the_shells_view_of_a_wait_status(status: int, code: int) -> None:
    assert exit_code(status) == code


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def policy_and_nice(pid: int) -> set[tuple[int, int]]:
    """(scheduling policy, nice) of every task of *pid* and its children."""
    from socket_activation.restart.priority import tree

    return {(os.sched_getscheduler(t), os.getpriority(os.PRIO_PROCESS, t)) for t in tree(pid)}


def test_a_generation_starting_beside_a_serving_one_runs_idle_then_niced_then_restored(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_priority idle: the second generation (silent, so it keeps starting) runs at
    SCHED_IDLE; past IDLE_LIMIT it is moved to nice 10 with a log line; its READY=1 puts it
    back to our own class and nice value. The first generation is never lowered."""
    require_root()  # taking a task out of SCHED_IDLE needs CAP_SYS_NICE
    from socket_activation.restart import generations as module
    from socket_activation.restart.priority import StartPriority

    monkeypatch.setattr(module, "IDLE_LIMIT", 0.3)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    normal = {(os.SCHED_OTHER, own)}
    gens = loop.generations(child("ready"), start_priority=StartPriority("idle", 10))
    first = start_ready(loop, gens).generation
    assert first is not None
    assert policy_and_nice(first.pid) == normal
    gens.argv = child("silent")
    assert gens.start(loop.readiness.address) == []
    second = gens._generations[-1]
    assert policy_and_nice(second.pid) == {(os.SCHED_IDLE, own)}
    deadline = second.escalate_at
    assert deadline is not None
    assert gens.next_deadline() == deadline  # the loop wakes for it
    time.sleep(max(0.0, deadline - time.monotonic()) + 0.01)
    assert gens.check_deadlines() == []
    assert policy_and_nice(second.pid) == {(os.SCHED_OTHER, min(19, own + 10))}
    assert f"{second} still starting after 0.3 s at idle priority; it goes on niced 10" in (
        loop.logged
    )
    (outcome,) = outcomes(gens.notified(Notification(second.pid, {"READY": "1"})))
    assert outcome.ready
    assert policy_and_nice(second.pid) == normal


def test_a_stop_takes_a_starting_generation_out_of_sched_idle(loop: Loop) -> None:
    """An idle task might never run its SIGTERM handler on busy CPUs: stop() escalates it."""
    require_root()
    from socket_activation.restart.priority import StartPriority

    gens = loop.generations(child("ready"), start_priority=StartPriority("idle", 10))
    start_ready(loop, gens)
    gens.argv = child("silent")
    gens.start(loop.readiness.address)
    second = gens._generations[-1]
    assert {p for p, _ in policy_and_nice(second.pid)} == {os.SCHED_IDLE}
    gens.stop(signal.SIGTERM)
    assert {p for p, _ in policy_and_nice(second.pid)} == {os.SCHED_OTHER}
