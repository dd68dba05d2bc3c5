"""``systemctl --user reload`` that tells the truth, under a real systemd 252 user manager.

``ExecReload=socket-activation reload`` for supervise and for the in-process handoff, behind a
``.socket`` unit, with 4 clients making one connection per request throughout:

- every reload returns only once the new generation serves: each connection begun after
  ``systemctl reload`` returned is answered by the new generation's pid, none fails;
- a new generation that exits before ``READY=1``, or hangs past its ready timeout, makes
  ``systemctl reload`` fail with the reason in the unit's status; the old generation keeps
  answering and the unit stays active.

Timings are recorded (see benchmarks/reload.py for the table), never asserted.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.usermanager import UserManager, exec_quote
from tests.support.load import Load, Sample

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "support" / "restart_app.py"
REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


@pytest.fixture
def scratch() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="sa-rl-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ReloadedUnit:
    """A socket + service pair whose service reloads through ``socket-activation reload``."""

    manager: UserManager
    prefix: str
    scratch: Path
    mode: str  # "supervise" or "handoff"
    port: int = field(default_factory=free_port)
    reloads: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, pid)

    @property
    def service(self) -> str:
        return f"{self.prefix}-web.service"

    @property
    def socket_unit(self) -> str:
        return f"{self.prefix}-web.socket"

    @property
    def log(self) -> Path:
        return self.scratch / "service.log"

    @property
    def fault(self) -> Path:
        return self.scratch / "fault"

    def install(self, *, ready_timeout: float = 3.0) -> None:
        app = [sys.executable, str(APP), "--startup", "0.3", "--fault-file", str(self.fault)]
        if self.mode == "supervise":
            start = [
                sys.executable,
                "-m",
                "socket_activation",
                "supervise",
                "--ready-timeout",
                str(ready_timeout),
                "--drain-timeout",
                "5",
                "--",
                *app,
            ]
            access = "main"
        else:
            start = [
                *app,
                "--serve-reload",
                "--notify-reload",
                "--ready-timeout",
                str(ready_timeout),
            ]
            access = "all"
        reload = [sys.executable, "-m", "socket_activation", "reload", "--timeout", "20"]
        self.manager.write_unit(self.socket_unit, f"[Socket]\nListenStream=127.0.0.1:{self.port}\n")
        self.manager.write_unit(
            self.service,
            "[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=notify\n"
            f"NotifyAccess={access}\n"
            f"Environment=PYTHONPATH={ROOT / 'src'}:{ROOT}\n"
            f"StandardOutput=append:{self.log}\nStandardError=append:{self.log}\n"
            f"ExecStart={exec_quote(*start)}\n"
            f"ExecReload={exec_quote(*reload)}\n",
        )
        self.manager.daemon_reload()
        self.manager.systemctl("start", self.socket_unit)
        assert self.probe().outcome == "ok"  # activates the service
        self.manager.wait_for(self.service, "ActiveState", "active")

    def probe(self) -> Sample:
        return Load(("127.0.0.1", self.port), clients=1).one(REQUEST)

    def serving_pid(self) -> int:
        """The pid answering now (every one of 5 fresh connections must agree)."""
        samples = [self.probe() for _ in range(5)]
        assert [s.outcome for s in samples] == ["ok"] * 5, samples
        pids = {s.pid for s in samples}
        assert len(pids) == 1, samples
        return pids.pop()

    def set_fault(self, fault: str) -> None:
        tmp = self.fault.with_suffix(".tmp")
        tmp.write_text(fault)
        tmp.rename(self.fault)

    def reload(self, *, check: bool = True) -> tuple[int, float]:
        """``systemctl --user reload``: its exit status and how long it took."""
        started = time.monotonic()
        done = self.manager.systemctl("reload", self.service, check=False, timeout=60)
        took = time.monotonic() - started
        if check:
            assert done.returncode == 0, f"{done.stderr}\n{self.text()}"
        return done.returncode, took

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def show(self, *props: str) -> dict[str, str]:
        return self.manager.show(self.service, *props)


def wait_for_answers_begun_after(load: Load, moment: float, count: int = 8) -> None:
    """Let the clients complete *count* requests begun after *moment* (at most 10 s), so that
    each reload has requests of its own to judge it by."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(1 for s in list(load.samples) if s.start >= moment) >= count:
            return
        time.sleep(0.02)


def assert_new_code_after_each_return(
    samples: list[Sample], first: int, reloads: list[tuple[float, float, int]]
) -> None:
    """No request begun after reload i returned was answered by a generation from before it:
    each is answered by reload i's pid, or (if it was still waiting when reload i+1 began) a
    later one. *first* is the pid that served before the first reload."""
    older = {first}
    for index, (_start, end, pid) in enumerate(reloads):
        later = {p for _s, _e, p in reloads[index:]}
        after = [s for s in samples if s.start >= end]
        stale = [s for s in after if s.pid in older]
        assert not stale, f"reload {index + 1}: {len(stale)} answered by old pids: {stale[:3]}"
        assert {s.pid for s in after} <= later
        until = reloads[index + 1][0] if index + 1 < len(reloads) else float("inf")
        window = [s for s in after if s.start + s.latency < until]
        assert window, f"reload {index + 1}: no request answered before the next reload"
        assert {s.pid for s in window} == {pid}
        older.add(pid)


@pytest.mark.parametrize("mode", ["supervise", "handoff"])
def test_twenty_reloads_return_when_the_new_generation_serves(
    user_manager: UserManager, user_units: str, scratch: Path, mode: str
) -> None:
    """20 reloads under load: 0 failed requests; after each return only the new pid answers;
    a different pid each time; the unit stays active throughout."""
    unit = ReloadedUnit(user_manager, user_units, scratch, mode)
    unit.install()
    try:
        previous = first = unit.serving_pid()
        with Load(("127.0.0.1", unit.port), clients=4) as load:
            time.sleep(0.2)
            for _ in range(20):
                started = time.monotonic()
                unit.reload()
                ended = time.monotonic()
                pid = unit.serving_pid()
                assert pid != previous
                unit.reloads.append((started, ended, pid))
                previous = pid
                wait_for_answers_begun_after(load, ended)
        assert unit.show("ActiveState")["ActiveState"] == "active"
        assert len(load.samples) > 100
        assert load.failures() == {}, unit.text()
        assert_new_code_after_each_return(load.samples, first, unit.reloads)
        if mode == "handoff":
            assert int(unit.show("MainPID")["MainPID"]) == previous
    finally:
        user_manager.systemctl("stop", unit.socket_unit, unit.service, check=False)


@pytest.mark.parametrize("mode", ["supervise", "handoff"])
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("exit-before-ready", r"exited with status 3 before READY=1"),
        ("hang", r"sent no READY=1 within 2 s"),
    ],
)
def test_a_new_generation_that_fails_makes_reload_fail(
    user_manager: UserManager, user_units: str, scratch: Path, *, mode: str, fault: str, reason: str
) -> None:
    """The new generation exits (or hangs) before READY=1: ``systemctl reload`` fails, the
    reason is in the unit's status and journal, the old generation answers on, 0 failed
    requests, the unit stays active; the next reload works again."""
    unit = ReloadedUnit(user_manager, user_units, scratch, mode)
    unit.install(ready_timeout=2.0)
    try:
        old = unit.serving_pid()
        with Load(("127.0.0.1", unit.port), clients=4) as load:
            unit.set_fault(fault)
            returncode, _took = unit.reload(check=False)
            assert returncode != 0, unit.text()
            after = time.monotonic()
            assert unit.serving_pid() == old
            state = unit.show("ActiveState", "SubState", "StatusText", "MainPID")
            assert state["ActiveState"] == "active", state
            assert re.search(reason, unit.text()), unit.text()
            assert state["StatusText"].startswith("reload failed: "), state
            assert re.search(reason, state["StatusText"]), state
            if mode == "handoff":
                assert int(state["MainPID"]) == old
            time.sleep(0.3)
            again = time.monotonic()
            unit.reload()  # the fault was taken by the failed one: this one works
            assert unit.serving_pid() != old
        assert load.failures() == {}, unit.text()
        # begun after the failed reload and answered before the next one began
        between = [s for s in load.samples if after <= s.start and s.start + s.latency < again]
        assert between, "no request between the failed reload and the next"
        assert [s for s in between if s.pid != old] == []
        status = user_manager.systemctl("status", unit.service, check=False).stdout
        assert "ExecReload=" in status
    finally:
        user_manager.systemctl("stop", unit.socket_unit, unit.service, check=False)


def test_units_generated_with_reload_command_tell_the_truth(
    user_manager: UserManager, user_units: str, scratch: Path
) -> None:
    """``socket-activation units --reload command`` as written, loaded into the manager: a
    reload succeeds with a new pid serving, a broken new generation fails it."""
    port = free_port()
    name = f"{user_units}-gen"
    fault = scratch / "fault"
    start = exec_quote(
        sys.executable, "-m", "socket_activation", "supervise", "--ready-timeout", "3", "--",
        sys.executable, str(APP), "--startup", "0.3", "--fault-file", str(fault),
    )  # fmt: skip
    units = ["units", "--name", name, "--listen", f"127.0.0.1:{port}", "--reload", "command"]
    done = subprocess.run(
        [
            *(sys.executable, "-m", "socket_activation", *units),
            *("--exec", start, "--output-dir", str(user_manager.unit_dir)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    service = (user_manager.unit_dir / f"{name}.service").read_text()
    assert "\nType=notify\n" in service
    assert "\nExecReload=" in service
    user_manager.daemon_reload()
    user_manager.systemctl("start", f"{name}.socket")
    unit = ReloadedUnit(user_manager, name.removesuffix("-gen"), scratch, "supervise", port=port)
    try:
        old = unit.serving_pid()
        user_manager.wait_for(f"{name}.service", "ActiveState", "active")
        assert user_manager.systemctl("reload", f"{name}.service", check=False).returncode == 0
        new = unit.serving_pid()
        assert new != old
        fault.write_text("exit-before-ready")
        assert user_manager.systemctl("reload", f"{name}.service", check=False).returncode != 0
        assert unit.serving_pid() == new
        state = user_manager.show(f"{name}.service", "ActiveState", "StatusText")
        assert state["ActiveState"] == "active"
        assert "exited with status 3 before READY=1" in state["StatusText"]
    finally:
        user_manager.systemctl("stop", f"{name}.socket", f"{name}.service", check=False)
