"""In-process upgrade: a new copy on the same sockets, the old one exits only after READY=1.

Real processes on loopback and Unix sockets; every fault test runs a bounded client loop during
the fault and requires zero failed requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation._errors import HandoffError
from socket_activation.net.address import ListenAddress
from socket_activation.net.bind import bind_address, owns_unix_socket, remove_unix_socket
from socket_activation.restart.handoff import MANAGER_NOTIFY_SOCKET, Upgrader, announce_ready
from socket_activation.restart.readiness import ReadinessSocket
from socket_activation.testing import ActivatedServer
from tests.conftest import require, require_root
from tests.support.load import Load
from tests.support.paths import TESTS

APP = str(TESTS / "support" / "restart_app.py")

# A child that reports what it got in its READY=1 STATUS= (JSON), then waits to be killed.
REPORT_CHILD = """
import json, os, socket, time
fds = int(os.environ['LISTEN_FDS'])
report = {
    'listen_pid_is_mine': os.environ['LISTEN_PID'] == str(os.getpid()),
    'names': os.environ['LISTEN_FDNAMES'],
    'addresses': [socket.socket(fileno=3 + i).getsockname() for i in range(fds)],
    'manager': os.environ.get('SOCKET_ACTIVATION_MANAGER_NOTIFY_SOCKET'),
    'notify': os.environ['NOTIFY_SOCKET'],
}
a = os.environ['NOTIFY_SOCKET']; a = '\\0' + a[1:] if a[0] == '@' else a
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(('READY=1\\nSTATUS=' + json.dumps(report)).encode(), a)
time.sleep(60)
"""


def child_argv(code: str) -> list[str]:
    return [sys.executable, "-c", code]


class Pids:
    """Processes to kill at the end (by pid; we reap the ones that are ours)."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    def add(self, pid: int) -> int:
        self.pids.add(pid)
        return pid

    def cleanup(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            # not ours when re-parented after its parent handed over and exited
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


@pytest.fixture
def pids() -> Iterator[Pids]:
    made = Pids()
    yield made
    made.cleanup()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


# -- the child side ----------------------------------------------------------------------------


def test_announce_ready_then_talks_to_the_manager() -> None:
    """READY=1 goes to the old generation; afterwards NOTIFY_SOCKET is the manager's again."""
    with ReadinessSocket() as parent, ReadinessSocket() as manager:
        env = {"NOTIFY_SOCKET": parent.address, MANAGER_NOTIFY_SOCKET: manager.address}
        assert announce_ready(status="up", environ=env)
        assert env == {"NOTIFY_SOCKET": manager.address}
        assert parent.wait(5).fields == {"READY": "1", "STATUS": "up"}
        assert manager.receive() is None


def test_announce_ready_outside_an_upgrade_is_plain_ready() -> None:
    """Started by the manager itself: READY=1 to the manager, environment unchanged."""
    with ReadinessSocket() as manager:
        env = {"NOTIFY_SOCKET": manager.address}
        assert announce_ready(environ=env)
        assert env == {"NOTIFY_SOCKET": manager.address}
        assert manager.wait(5).fields == {"READY": "1"}


def test_announce_ready_after_an_upgrade_without_a_manager_unsets_notify_socket() -> None:
    """No manager above the old generation: later notifications go nowhere (NOT_CONFIGURED)."""
    with ReadinessSocket() as parent:
        env = {"NOTIFY_SOCKET": parent.address, MANAGER_NOTIFY_SOCKET: ""}
        announce_ready(environ=env)
        assert env == {}


def assert_clean(load: Load) -> None:
    """The load really ran (many requests) and not one of them failed."""
    assert len(load.samples) > 20
    assert load.failures() == {}


# -- the Upgrader on its own -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"names": ["a", "b"]}, "1 sockets but 2 names", id="names-count"),
        pytest.param(
            {"names": ["a"], "ready_timeout": 0}, "ready_timeout must be positive", id="timeout"
        ),
    ],
)
def test_upgrader_refuses_bad_arguments(
    listener: socket.socket, kwargs: dict[str, object], message: str
) -> None:
    """Mismatched names or a non-positive timeout are refused up front."""
    with pytest.raises(ValueError, match=message):
        Upgrader([listener], **kwargs)  # type: ignore[arg-type]


def test_new_process_gets_the_sockets_in_order_its_own_listen_pid_and_a_private_notify(
    pids: Pids,
) -> None:
    """fds 3.. in the given order and names, LISTEN_PID = the child, NOTIFY_SOCKET ours (not
    the manager's, which travels separately), and the manager is told MAINPID=<child>."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with tcp, udp, ReadinessSocket() as manager:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp.bind(("127.0.0.1", 0))
        env = dict(os.environ, NOTIFY_SOCKET=manager.address)
        upgrader = Upgrader(
            [udp, tcp], names=["quic", "web"], argv=child_argv(REPORT_CHILD), environ=env
        )
        result = upgrader.upgrade()
        pids.add(result.pid)
        assert result.status is not None
        report = json.loads(result.status)
        assert report["listen_pid_is_mine"]
        assert report["names"] == "quic:web"
        assert [tuple(a) for a in report["addresses"]] == [udp.getsockname(), tcp.getsockname()]
        assert report["manager"] == manager.address
        assert report["notify"] != manager.address
        assert result.manager_notified
        note = manager.wait(5)
        assert note.fields == {"MAINPID": str(result.pid)}
        assert upgrader.completed == result


def test_manager_socket_already_passed_along_is_kept_for_the_next_generation(pids: Pids) -> None:
    """A generation that has not switched yet hands on the manager's socket, not its parent's."""
    with ReadinessSocket() as manager, ReadinessSocket() as parent, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "NOTIFY_SOCKET": parent.address,
            MANAGER_NOTIFY_SOCKET: manager.address,
        }
        result = Upgrader(
            [sock], names=["web"], argv=child_argv(REPORT_CHILD), environ=env
        ).upgrade()
        pids.add(result.pid)
        assert result.status is not None
        assert json.loads(result.status)["manager"] == manager.address
        assert manager.wait(5).fields == {"MAINPID": str(result.pid)}
        assert parent.receive() is None


def test_without_a_manager_the_child_is_told_there_is_none(pids: Pids) -> None:
    """No NOTIFY_SOCKET above us: the child gets an empty manager variable, so that after
    announce_ready() it does not keep notifying our socket, gone once we exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        result = Upgrader(
            [sock], names=["web"], argv=child_argv(REPORT_CHILD), environ=env
        ).upgrade()
        pids.add(result.pid)
        assert result.status is not None
        assert json.loads(result.status)["manager"] == ""
        assert not result.manager_notified


def test_manager_that_cannot_be_told_mainpid_fails_the_upgrade(listener: socket.socket) -> None:
    """Without MAINPID= the manager would stop the service when we exit: the ready child is
    stopped and the old process keeps serving."""
    gone = f"@socket-activation-test/no-manager/{os.getpid()}"
    env = dict(os.environ, NOTIFY_SOCKET=gone)
    upgrader = Upgrader([listener], names=["web"], argv=child_argv(REPORT_CHILD), environ=env)
    with pytest.raises(
        HandoffError, match=r"new process \d+ is ready, but .*Connection refused.*keeps serving"
    ) as failed:
        upgrader.upgrade()
    assert_reaped(failed.value)
    assert upgrader.completed is None


def assert_reaped(error: HandoffError) -> None:
    """The failed child the error names is gone and reaped: not our child any more.

    Checked by its pid, not with waitpid(-1): the test process may have other children (the
    session's user manager, for one).
    """
    found = re.search(r"process (\d+)", str(error))
    assert found, f"the error does not name the child: {error}"
    with pytest.raises(ChildProcessError):
        os.waitpid(int(found[1]), os.WNOHANG)


@pytest.mark.parametrize(
    ("code", "timeout", "message"),
    [
        pytest.param(
            "import sys; sys.exit(3)",
            10,
            r"upgrade failed: new process \d+ exited with status 3 before READY=1; "
            "this process keeps serving",
            id="exits-before-ready",
        ),
        pytest.param(
            "import os; os.kill(os.getpid(), 11)",
            10,
            r"new process \d+ was killed by SIGSEGV before READY=1",
            id="crashes-before-ready",
        ),
        pytest.param(
            "import time; time.sleep(60)",
            0.5,
            r"new process \d+ sent no READY=1 within 0.5 s; it was stopped with SIGTERM; "
            "this process keeps serving",
            id="hangs-past-the-timeout",
        ),
        pytest.param(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
            0.5,
            r"sent no READY=1 within 0.5 s; it was killed with SIGKILL",
            id="hangs-and-ignores-sigterm",
        ),
        pytest.param(
            "import os, socket, time\n"
            "a = '\\0' + os.environ['NOTIFY_SOCKET'][1:]\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "s.sendto(b'STATUS=cannot open database', a); time.sleep(0.2); raise SystemExit(1)",
            10,
            r"exited with status 1 before READY=1; this process keeps serving "
            r"\(its last STATUS= was 'cannot open database'\)",
            id="says-why-then-exits",
        ),
    ],
)
def test_failed_upgrade_says_why_and_leaves_no_child(
    listener: socket.socket, code: str, timeout: float, message: str
) -> None:
    """Exit, crash or timeout before READY=1: HandoffError naming the cause; the child is reaped;
    a later upgrade may be tried again."""
    with ReadinessSocket() as manager:
        env = dict(os.environ, NOTIFY_SOCKET=manager.address)
        upgrader = Upgrader(
            [listener], names=["web"], argv=child_argv(code), environ=env, ready_timeout=timeout
        )
        with pytest.raises(HandoffError, match=message) as failed:
            upgrader.upgrade()
        assert_reaped(failed.value)
        assert manager.receive() is None  # the manager heard nothing
        assert upgrader.completed is None
        assert not upgrader.in_progress


def test_second_upgrade_while_one_runs_is_refused(listener: socket.socket, pids: Pids) -> None:
    """One upgrade at a time: a concurrent request fails at once; after success, any request."""
    slow = "import time; time.sleep(1)\n" + REPORT_CHILD
    upgrader = Upgrader([listener], names=["web"], argv=child_argv(slow))
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(upgrader.upgrade()))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not upgrader.in_progress and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(HandoffError, match=r"an upgrade is already in progress \(new process"):
            upgrader.upgrade()
    finally:
        thread.join(10)
    done = upgrader.completed
    assert done is not None
    pids.add(done.pid)
    with pytest.raises(HandoffError, match=f"already handed over to process {done.pid}"):
        upgrader.upgrade()


def test_unix_socket_file_handed_over_is_never_unlinked(tmp_path: Path, pids: Pids) -> None:
    """After a successful upgrade the old process no longer owns the socket file."""
    path = f"/tmp/sa-h-{os.getpid()}.sock"
    sock = bind_address(ListenAddress.parse(path))
    try:
        assert owns_unix_socket(path)
        result = Upgrader([sock], names=["web"], argv=child_argv(REPORT_CHILD)).upgrade()
        pids.add(result.pid)
        assert not owns_unix_socket(path)
        assert not remove_unix_socket(path)
        assert os.path.exists(path)
    finally:
        sock.close()
        os.unlink(path)


def test_unix_socket_file_is_kept_by_the_old_process_when_the_upgrade_fails() -> None:
    """A failed upgrade leaves ownership where it was: the old process still cleans up."""
    path = f"/tmp/sa-h-{os.getpid()}.sock"
    sock = bind_address(ListenAddress.parse(path))
    try:
        with pytest.raises(HandoffError):
            Upgrader([sock], names=["web"], argv=child_argv("raise SystemExit(2)")).upgrade()
        assert owns_unix_socket(path)
    finally:
        sock.close()
        remove_unix_socket(path)
    assert not os.path.exists(path)


# -- a real server upgraded under load ---------------------------------------------------------


class App:
    """The test app (tests/support/restart_app.py) started by the plugin as systemd would; the
    processes it hands over to stay in the group the fixture ends."""

    def __init__(self, server: ActivatedServer, tmp: Path) -> None:
        self.server = server
        self.log = tmp / "app.log"
        self.fault = tmp / "fault"
        self.pid = server.pid
        self.port = server.port()

    def set_fault(self, fault: str) -> None:
        tmp = self.fault.with_suffix(".tmp")
        tmp.write_text(fault)
        tmp.rename(self.fault)

    def wait_log(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text() if self.log.exists() else ""
            if predicate(text):
                return text
            time.sleep(0.02)
        raise AssertionError(f"log never matched; it says:\n{text}")

    def handed_over(self, old: int) -> int:
        text = self.wait_log(lambda t: f"app {old}: handed over to " in t)
        return int(text.split(f"app {old}: handed over to ")[1].split()[0])

    def mainpids(self) -> list[dict[str, str]]:
        """What the 'manager' heard after the first READY=1: one MAINPID= per handover."""
        return [n.fields for n in self.server.notifications[1:]]


@pytest.fixture
def app_factory(
    activated_server: Callable[..., ActivatedServer], tmp_path: Path
) -> Callable[..., App]:
    def make(*args: str) -> App:
        env = dict(os.environ, RESTART_APP_LOG=str(tmp_path / "app.log"))
        argv = [sys.executable, APP, "--upgrade-on-hup", "--fault-file", str(tmp_path / "fault")]
        server = activated_server(
            [*argv, "--startup", "0.3", *args], listen=["127.0.0.1:0"], names="web", env=env
        )
        server.wait_ready(20)
        return App(server, tmp_path)

    return make


def test_upgrade_under_load_fails_no_request(app_factory: Callable[..., App]) -> None:
    """SIGHUP: the new process serves, the old exits 0, the manager gets MAINPID; 0 failures."""
    app = app_factory()
    with Load(("127.0.0.1", app.port), clients=4) as load:
        time.sleep(0.3)
        os.kill(app.pid, signal.SIGHUP)
        new = app.handed_over(app.pid)
        assert app.server.wait(20) == 0
        time.sleep(0.3)
    assert_clean(load)
    answered = {s.pid for s in load.samples}
    assert {app.pid, new} <= answered
    assert max(s.start for s in load.samples if s.pid == app.pid) < max(
        s.start for s in load.samples if s.pid == new
    )
    assert app.mainpids() == [{"MAINPID": str(new)}]


def test_upgraded_process_can_upgrade_again(app_factory: Callable[..., App]) -> None:
    """Each generation upgrades the next; the manager hears MAINPID= for each; 0 failures."""
    app = app_factory()
    with Load(("127.0.0.1", app.port), clients=4) as load:
        current, handovers = app.pid, []
        for _ in range(3):
            os.kill(current, signal.SIGHUP)
            new = app.handed_over(current)
            handovers.append({"MAINPID": str(new)})
            app.server.wait_notification("MAINPID", str(new), timeout=5)
            assert app.mainpids() == handovers
            current = new
        time.sleep(0.2)
    assert_clean(load)
    assert current in {s.pid for s in load.samples}


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param("exit-before-ready", "exited with status 3 before READY=1", id="exit"),
        pytest.param("hang", "sent no READY=1 within 1 s", id="hang"),
    ],
)
def test_failed_upgrade_under_load_keeps_the_old_process_serving(
    app_factory: Callable[..., App], fault: str, reason: str
) -> None:
    """The new generation exits or hangs before READY=1: the old one logs why and keeps
    serving; a later SIGHUP then succeeds; 0 failed requests throughout."""
    app = app_factory("--ready-timeout", "1")
    with Load(("127.0.0.1", app.port), clients=4) as load:
        app.set_fault(fault)
        os.kill(app.pid, signal.SIGHUP)
        text = app.wait_log(lambda t: "upgrade failed" in t)
        assert reason in text
        assert "this process keeps serving" in text
        count = len(load.samples)
        time.sleep(0.3)
        assert len(load.samples) > count
        assert {s.pid for s in load.samples[count:]} == {app.pid}
        os.kill(app.pid, signal.SIGHUP)
        new = app.handed_over(app.pid)
        time.sleep(0.2)
    assert_clean(load)
    assert new in {s.pid for s in load.samples}


def test_two_sighups_in_a_row_make_one_upgrade(app_factory: Callable[..., App]) -> None:
    """The second SIGHUP arrives while the first upgrade waits: refused, logged; 0 failures."""
    app = app_factory()
    with Load(("127.0.0.1", app.port), clients=4) as load:
        os.kill(app.pid, signal.SIGHUP)
        time.sleep(0.1)
        os.kill(app.pid, signal.SIGHUP)
        new = app.handed_over(app.pid)
        time.sleep(0.3)
    assert_clean(load)
    assert "an upgrade is already in progress" in app.log.read_text()
    assert {s.pid for s in load.samples} <= {app.pid, new}


def test_sigkill_of_the_old_process_mid_drain_fails_no_new_connection(
    app_factory: Callable[..., App],
) -> None:
    """The old process dies while draining slow requests: those may fail, new ones must not."""
    app = app_factory()
    slow = Load(("127.0.0.1", app.port), clients=3, path="/slow").start()
    time.sleep(0.3)  # the slow requests are now in flight in the old process
    with Load(("127.0.0.1", app.port), clients=4) as load:
        os.kill(app.pid, signal.SIGHUP)
        app.handed_over(app.pid)
        os.kill(app.pid, signal.SIGKILL)
        assert app.server.wait(20) == -signal.SIGKILL
        time.sleep(0.5)
    slow.stop()
    assert_clean(load)


def exit_policy(app: App, pid: int) -> str:
    text = app.wait_log(lambda t: f"app {pid}: exit policy " in t)
    return text.split(f"app {pid}: exit policy ")[1].split()[0]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux only")
def test_old_process_exits_at_sched_idle_and_the_new_one_serves_at_normal(
    app_factory: Callable[..., App],
) -> None:
    """Its finalization then leaves the CPU to the new process (restart.retire)."""
    app = app_factory()
    os.kill(app.pid, signal.SIGHUP)
    new = app.handed_over(app.pid)
    assert app.server.wait(20) == 0
    assert exit_policy(app, app.pid) == "idle"
    tasks = [int(t) for t in os.listdir(f"/proc/{new}/task")]
    assert {os.sched_getscheduler(t) for t in tasks} == {os.SCHED_OTHER}
    with Load(("127.0.0.1", app.port), clients=1) as load:
        time.sleep(0.2)
    assert {s.pid for s in load.samples} == {new}


def test_retire_after_false_exits_at_normal_priority(app_factory: Callable[..., App]) -> None:
    app = app_factory("--no-retire")
    os.kill(app.pid, signal.SIGHUP)
    app.handed_over(app.pid)
    assert app.server.wait(20) == 0
    assert exit_policy(app, app.pid) == "other"


# A child that says READY=1 with its own scheduling policy then, and waits to be killed.
POLICY_CHILD = """
import os, socket, time
a = os.environ['NOTIFY_SOCKET']; a = '\\0' + a[1:] if a[0] == '@' else a
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(('READY=1\\nSTATUS=%d' % os.sched_getscheduler(0)).encode(), a)
time.sleep(60)
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux only")
@pytest.mark.parametrize(("found", "walks"), [(True, 1), (False, 2)], ids=["born", "lowered"])
def test_the_new_process_is_born_idle_and_walked_only_to_be_put_back(
    listener: socket.socket,
    pids: Pids,
    monkeypatch: pytest.MonkeyPatch,
    found: bool,
    walks: int,
) -> None:
    """The spawn gives it SCHED_IDLE before its exec (spawn_nogil), so the upgrade thread lists
    its tasks once, to put it back after READY=1; where libc's attributes could not be read it
    is lowered after its birth, a walk more. Either way it starts idle and serves at normal."""
    require_root()  # leaving SCHED_IDLE needs CAP_SYS_NICE (or RLIMIT_NICE)
    from socket_activation.restart import spawn_nogil, tasks

    listed: list[int] = []
    real = tasks.each

    def counted(pid: int, change: Callable[[int], None], **options: bool) -> bool:
        listed.append(pid)
        return real(pid, change, **options)

    monkeypatch.setattr("socket_activation.restart.priority.each", counted)
    upgrader = Upgrader(
        [listener], names=["web"], argv=child_argv(POLICY_CHILD), retire_after=False
    )
    if not found:
        monkeypatch.setattr(spawn_nogil, "_policy_at", [None])
    result = upgrader.upgrade()
    pids.add(result.pid)
    assert result.status == str(os.SCHED_IDLE)  # while it started
    assert listed == [result.pid] * walks
    assert os.sched_getscheduler(result.pid) == os.SCHED_OTHER  # now that it serves


def test_the_whole_upgrade_runs_on_the_spare_cpus_and_the_thread_comes_back(
    listener: socket.socket, pids: Pids, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From its first line (RELOADING=1, before the spawn), not only from the spawn on: its
    Python then leaves the serving CPU to the serving threads and what else runs there."""
    from socket_activation.restart import affinity
    from socket_activation.restart import handoff as module

    usable = sorted(affinity.usable_cpus())
    require(len(usable) >= 2, "needs two usable CPUs")
    first, last = usable[0], usable[-1]
    own = os.sched_getaffinity(0)
    seen: list[set[int]] = []
    real = module.reloading_message

    def watched() -> str:
        seen.append(os.sched_getaffinity(0))
        return real()

    monkeypatch.setattr(module, "reloading_message", watched)
    os.sched_setaffinity(0, {first})
    try:
        with ReadinessSocket() as manager:
            env = dict(os.environ, NOTIFY_SOCKET=manager.address)
            upgrader = Upgrader(
                [listener], names=["web"], argv=child_argv(REPORT_CHILD), environ=env,
                notify_reload=True, spare_cpus={last}, retire_after=False,
            )  # fmt: skip
            # from the main thread (as a signal handler would): its CPUs are the process's,
            # and they are read before it moves, so the new process is put back there
            result = upgrader.upgrade()
            pids.add(result.pid)
            assert manager.wait(5).fields.get("RELOADING") == "1"
        assert os.sched_getaffinity(result.pid) == {first}  # ready: where this process serves
        assert seen == [{last}]
    finally:
        # a successful upgrade set this (old) process's threads aside, onto the spare CPU
        affinity.move(os.getpid(), own, children=False)
