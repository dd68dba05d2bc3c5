"""``socket-activation supervise``: rollouts on SIGHUP with zero failed requests, faults included.

Real processes: supervise runs tests/support/restart_app.py on a loopback TCP socket it inherited
(or a Unix socket it binds), a bounded client loop runs during each fault, and a readiness
socket of the test plays the service manager above supervise.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.restart.readiness import Notification, ReadinessSocket
from socket_activation.restart.spawn import spawn_with_sockets
from socket_activation.restart.supervisor import Supervisor
from tests.conftest import require_root, require_tool
from tests.support.load import Load

ROOT = Path(__file__).parents[2]
APP = str(ROOT / "tests" / "support" / "restart_app.py")


class Supervise:
    """supervise started as a service manager would: sockets at fd 3.., NOTIFY_SOCKET ours."""

    def __init__(
        self,
        tmp: Path,
        sockets: list[socket.socket],
        options: list[str],
        command: list[str] | None = None,
        wrap: list[str] | None = None,
    ) -> None:
        self.log = tmp / "supervise.log"
        self.fault = tmp / "fault"
        self.manager = ReadinessSocket()
        command = command or [
            sys.executable,
            APP,
            "--startup",
            "0.3",
            "--fault-file",
            str(self.fault),
        ]
        argv = [
            *(wrap or []),
            "/bin/sh",
            "-c",
            'exec "$0" "$@" 2>>"$SUPERVISE_LOG"',
            sys.executable,
            "-m",
            "socket_activation",
            "supervise",
            *options,
            "--",
            *command,
        ]
        env = dict(
            os.environ,
            NOTIFY_SOCKET=self.manager.address,
            SUPERVISE_LOG=str(self.log),
            PYTHONPATH=f"{ROOT / 'src'}:{ROOT}",
        )
        names = ["web"] * len(sockets)
        self.pid = spawn_with_sockets(argv, [s.fileno() for s in sockets], names, env)
        self.status: int | None = None
        self._notes: list[dict[str, str]] = []
        self._reading = threading.Event()
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def wait_ready(self) -> Notification:
        self.ready = self.manager.wait_ready(self.pid, 20)
        # like a real manager, keep reading: a full queue would block supervise's sends
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self.ready

    def _read(self) -> None:
        while not self._reading.is_set():
            select.select([self.manager], [], [], 0.05)
            with self._lock:
                self._notes.extend(n.fields for n in self.manager.drain())

    def notes(self) -> list[dict[str, str]]:
        time.sleep(0.1)
        with self._lock:
            return list(self._notes)

    def set_fault(self, fault: str) -> None:
        tmp = self.fault.with_suffix(".tmp")
        tmp.write_text(fault)
        tmp.rename(self.fault)

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text())
            if match:
                return match
            time.sleep(0.02)
        raise AssertionError(f"log never matched {pattern!r}; it says:\n{self.text()}")

    def generation_pid(self, number: int) -> int:
        return int(self.wait_log(rf"started generation {number} \(pid (\d+)\)").group(1))

    def wait_exit(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reaped, status = os.waitpid(self.pid, os.WNOHANG)
            if reaped == self.pid:
                self.status = status
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        raise AssertionError(f"supervise did not exit; log:\n{self.text()}")

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.wait_exit(10)
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        self._reading.set()
        if self._reader is not None:
            self._reader.join(5)
        self.manager.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


@pytest.fixture
def supervise(
    listener: socket.socket, tmp_path: Path
) -> Iterator[Callable[..., tuple[Supervise, Load]]]:
    """Start supervise on the listener, wait for its READY=1; returns it and a Load (unstarted)."""
    made: list[Supervise] = []

    def start(*options: str, **kwargs: list[str]) -> tuple[Supervise, Load]:
        sup = Supervise(tmp_path, [listener], list(options), **kwargs)
        made.append(sup)
        sup.wait_ready()
        return sup, Load(listener.getsockname(), clients=4)

    yield start
    for sup in made:
        sup.close()


def assert_clean(load: Load) -> None:
    """The load really ran (many requests) and not one of them failed."""
    assert len(load.samples) > 20
    assert load.failures() == {}


# -- rollouts ----------------------------------------------------------------------------------


def test_sighup_rolls_out_a_new_generation_without_failing_a_request(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """New generation ready -> old one drains and exits; both answered; 0 failed requests."""
    sup, load = supervise("--drain-timeout", "5")
    first = sup.generation_pid(1)
    assert sup.ready.fields == {"READY": "1", "STATUS": f"generation 1 (pid {first}) serving"}
    with load:
        time.sleep(0.2)
        os.kill(sup.pid, signal.SIGHUP)
        second = sup.generation_pid(2)
        sup.wait_log(r"generation 2 \(pid \d+\) is ready; generation 1 \(pid \d+\) is draining")
        sup.wait_log(r"generation 1 \(pid \d+\) exited with status 0")
        time.sleep(0.2)
    assert_clean(load)
    assert {first, second} <= {s.pid for s in load.samples}
    statuses = [n.get("STATUS") for n in sup.notes()]
    assert f"generation 2 (pid {second}) serving" in statuses


def test_ready_is_sent_to_the_manager_once_the_first_generation_is_ready(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """supervise is a Type=notify service: READY=1 comes from supervise itself, after gen 1."""
    sup, _load = supervise()
    # READY=1 attributed by SCM_CREDENTIALS to supervise itself, after generation 1 was ready
    assert sup.ready.pid == sup.pid
    assert re.search(r"generation 1 \(pid \d+\) is ready", sup.text())


def test_twenty_rollouts_under_load_fail_no_request(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """Back-to-back restarts, one every 0.6 s, while 4 clients hammer the socket."""
    sup, load = supervise("--drain-timeout", "5")
    with load:
        for number in range(2, 22):
            os.kill(sup.pid, signal.SIGHUP)
            sup.wait_log(rf"generation {number} \(pid \d+\) is ready")
            time.sleep(0.2)
    assert_clean(load)
    assert len({s.pid for s in load.samples}) >= 15


@pytest.mark.parametrize(
    ("fault", "options", "reason"),
    [
        pytest.param("exit-before-ready", [], r"exited with status 3", id="exits-before-ready"),
        pytest.param(
            "hang",
            ["--ready-timeout", "1"],
            r"sent no READY=1 within 1 s; stopping it",
            id="hangs-past-the-timeout",
        ),
    ],
)
def test_failed_generation_is_stopped_and_the_old_keeps_serving(
    supervise: Callable[..., tuple[Supervise, Load]],
    fault: str,
    options: list[str],
    reason: str,
) -> None:
    """Exit or hang before READY=1: the new one is dropped, the old one serves on; 0 failures;
    the next SIGHUP rolls out normally."""
    sup, load = supervise(*options)
    first = sup.generation_pid(1)
    with load:
        sup.set_fault(fault)
        os.kill(sup.pid, signal.SIGHUP)
        sup.wait_log(
            rf"generation 2 \(pid \d+\) {reason} before READY=1; "
            rf"generation 1 \(pid {first}\) keeps serving"
        )
        count = len(load.samples)
        time.sleep(0.3)
        assert {s.pid for s in load.samples[count:]} == {first}
        os.kill(sup.pid, signal.SIGHUP)
        sup.wait_log(r"generation 3 \(pid \d+\) is ready; generation 1 \(pid \d+\) is draining")
        time.sleep(0.2)
    assert_clean(load)
    assert any("failed to start" in n.get("STATUS", "") for n in sup.notes())


def test_generation_crashing_right_after_ready_is_replaced(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """READY=1 then a crash: a replacement starts at once; connections wait in the queue
    meanwhile, none fails."""
    sup, load = supervise()
    with load:
        sup.set_fault("crash-after-ready")
        os.kill(sup.pid, signal.SIGHUP)
        sup.wait_log(r"generation 2 \(pid \d+\) exited with status 70; starting a replacement")
        sup.wait_log(r"generation 3 \(pid \d+\) is ready")
        time.sleep(0.3)
    assert_clean(load)
    assert sup.generation_pid(3) in {s.pid for s in load.samples}


def test_two_sighups_in_a_row_are_coalesced_into_one_more_rollout(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """A SIGHUP during a rollout queues exactly one more; 0 failed requests."""
    sup, load = supervise()
    with load:
        os.kill(sup.pid, signal.SIGHUP)
        time.sleep(0.05)
        os.kill(sup.pid, signal.SIGHUP)
        sup.wait_log("a rollout is in progress; another will follow it")
        sup.wait_log(r"generation 3 \(pid \d+\) is ready; generation 2 \(pid \d+\) is draining")
        time.sleep(0.5)
    assert_clean(load)
    assert "generation 4" not in sup.text()


def test_sigkill_of_the_old_generation_mid_drain_fails_no_new_connection(
    supervise: Callable[..., tuple[Supervise, Load]], listener: socket.socket
) -> None:
    """Slow requests in flight in the old generation may fail when it is killed; new
    connections are served by the new generation without a failure."""
    sup, load = supervise("--drain-timeout", "10")
    first = sup.generation_pid(1)
    slow = Load(listener.getsockname(), clients=3, path="/slow").start()
    time.sleep(0.3)
    with load:
        os.kill(sup.pid, signal.SIGHUP)
        sup.wait_log(r"generation 1 \(pid \d+\) is draining")
        os.kill(first, signal.SIGKILL)
        sup.wait_log(r"generation 1 \(pid \d+\) was killed by SIGKILL")
        time.sleep(0.5)
    slow.stop()
    assert_clean(load)


# -- stopping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "signum", "code"),
    [
        pytest.param(None, signal.SIGTERM, 0, id="app-drains-and-exits-0"),
        pytest.param(None, signal.SIGINT, 0, id="sigint-too"),
        pytest.param(
            ["/bin/sh", "-c", "trap 'kill $!; exit 7' TERM; sleep 60 & wait"],
            signal.SIGTERM,
            7,
            id="child-status-is-ours",
        ),
        pytest.param(["sleep", "60"], signal.SIGTERM, 128 + signal.SIGTERM, id="killed-by-signal"),
    ],
)
def test_stop_signal_is_forwarded_and_supervise_exits_with_the_childs_status(
    supervise: Callable[..., tuple[Supervise, Load]],
    command: list[str] | None,
    signum: int,
    code: int,
) -> None:
    """SIGTERM/SIGINT reach the child; supervise exits when it has, with its status
    (128+N for death by signal N), after telling the manager STOPPING=1."""
    options = ["--ready", "started"] if command else []
    sup, _load = supervise(*options, **({"command": command} if command else {}))
    time.sleep(0.2)
    os.kill(sup.pid, signum)
    assert sup.wait_exit() == code
    assert {"STOPPING": "1"} in sup.notes()


def test_ready_started_counts_a_silent_program_as_ready(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """--ready=started: a program that never sends READY=1 is ready once spawned."""
    sup, _load = supervise("--ready", "started", command=["sleep", "60"])
    os.kill(sup.pid, signal.SIGHUP)
    sup.wait_log(r"generation 2 \(pid \d+\) is ready; generation 1 \(pid \d+\) is draining")
    sup.wait_log(r"generation 1 \(pid \d+\) was killed by SIGTERM")


def test_clean_exit_of_the_child_ends_supervise(
    supervise: Callable[..., tuple[Supervise, Load]],
) -> None:
    """A child that exits 0 by itself is done: supervise exits 0 and starts nothing new."""
    sup, _load = supervise("--ready", "started", command=["sleep", "0.3"])
    assert sup.wait_exit() == 0
    assert "generation 2" not in sup.text()


def test_crash_loop_gives_up(supervise: Callable[..., tuple[Supervise, Load]]) -> None:
    """A serving generation that keeps dying is replaced a bounded number of times."""
    sup, _load = supervise("--ready", "started", command=["sh", "-c", "sleep 0.1; exit 4"])
    assert sup.wait_exit() == 4
    assert "giving up" in sup.text()


# -- sockets bound by supervise, and PID 1 --------------------------------------------------------


def test_supervise_binds_a_unix_socket_and_rolls_out_on_it(tmp_path: Path) -> None:
    """Not activated: supervise binds --listen itself; a rollout on a Unix socket fails nothing."""
    path = f"/tmp/sa-sv-{os.getpid()}.sock"
    sup = Supervise(tmp_path, [], ["--listen", path])
    try:
        sup.wait_ready()
        with Load(path, clients=4) as load:
            time.sleep(0.2)
            os.kill(sup.pid, signal.SIGHUP)
            sup.wait_log(r"generation 2 \(pid \d+\) is ready")
            time.sleep(0.3)
        assert_clean(load)
    finally:
        sup.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def test_as_pid_1_it_reaps_orphans_and_stops_on_sigterm(
    listener: socket.socket, tmp_path: Path
) -> None:
    """In a new PID namespace supervise is PID 1: re-parented orphans are reaped (no zombie
    left), and SIGTERM (which PID 1 ignores without a handler) stops it."""
    require_root()
    require_tool("unshare")
    command = ["/bin/sh", "-c", "(sleep 0.2 &); exec sleep 60"]
    sup = Supervise(
        tmp_path,
        [listener],
        ["--ready", "started", "--trust-pid1"],
        command=command,
        wrap=["unshare", "--pid", "--fork", "--kill-child"],
    )
    try:
        sup.wait_log(r"generation 1 \(pid 2\) is ready")
        time.sleep(1.0)  # the orphaned sleep 0.2 has exited and was re-parented to PID 1
        init = _child_of(sup.pid)
        zombies = [p for p in _children(init) if _state(p) == "Z"]
        assert zombies == []
        os.kill(init, signal.SIGTERM)
        assert sup.wait_exit() == 128 + signal.SIGTERM
    finally:
        sup.close()


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if _field(int(entry), "PPid") == str(pid):
                    out.append(int(entry))
    return out


def _child_of(pid: int) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        kids = _children(pid)
        if kids:
            return kids[0]
        time.sleep(0.02)
    raise AssertionError(f"{pid} has no child")


def _state(pid: int) -> str:
    return _field(pid, "State")[:1]


def _field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"argv": []}, "needs a command", id="no-command"),
        pytest.param({"names": ["a", "b"]}, "1 sockets but 2 names", id="names"),
        pytest.param({"ready": "soon"}, "ready must be 'notify' or 'started'", id="ready"),
        pytest.param({"restart": "maybe"}, "restart must be", id="restart"),
        pytest.param({"ready_timeout": 0}, "ready_timeout must be positive", id="ready-timeout"),
        pytest.param({"drain_timeout": -1}, "drain_timeout must be positive", id="drain-timeout"),
    ],
)
def test_supervisor_refuses_bad_arguments(
    listener: socket.socket, kwargs: dict[str, object], message: str
) -> None:
    """Each option is checked up front, naming the value."""
    args: dict[str, object] = {"argv": ["true"], "sockets": [listener], "names": ["web"]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Supervisor(**args)  # type: ignore[arg-type]
