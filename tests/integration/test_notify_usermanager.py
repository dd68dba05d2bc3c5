"""sd_notify, the watchdog and the fd store under a real systemd 252 user manager.

The services are ``notify_service.py`` run with this checkout on PYTHONPATH; everything is
observed through ``systemctl --user show`` and what the services report.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.usermanager import UserManager, exec_quote

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICE = Path(__file__).with_name("notify_service.py")
SRC = Path(__file__).resolve().parents[2] / "src"
RESTARTS = 5


@pytest.fixture
def scratch() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="sa-n-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory)


def service_unit(*args: str, extra: str = "") -> str:
    return (
        "[Unit]\n"
        "# restarts in quick succession are the point of some tests, not a crash loop\n"
        "StartLimitIntervalSec=0\n"
        "[Service]\n"
        "Type=notify\n"
        f"Environment=PYTHONPATH={SRC}\n"
        f"ExecStart={exec_quote(sys.executable, SERVICE, *args)}\n"
        f"{extra}"
    )


def start_unit(manager: UserManager, prefix: str, stem: str, text: str) -> str:
    """Write and load ``{prefix}-{stem}.service`` (user_units stops it after the test)."""
    unit = f"{prefix}-{stem}.service"
    manager.write_unit(unit, text)
    manager.daemon_reload()
    return unit


def test_notify_service_is_active_only_after_ready(
    user_manager: UserManager, user_units: str, scratch: Path
) -> None:
    """R60: a Type=notify unit stays activating until READY=1, then is active with its STATUS=."""
    trigger = scratch / "go"
    unit = start_unit(user_manager, user_units, "ready", service_unit("ready", str(trigger)))
    try:
        user_manager.systemctl("start", "--no-block", unit)
        user_manager.wait_for(unit, "SubState", "start")
        time.sleep(1.0)  # the service is running but has not said READY=1
        assert user_manager.show(unit, "ActiveState")["ActiveState"] == "activating"
        trigger.touch()
        user_manager.wait_for(unit, "ActiveState", "active")
        assert user_manager.show(unit, "StatusText")["StatusText"] == "serving after the trigger"
    finally:
        user_manager.systemctl("stop", unit, check=False)


def test_watchdog_kills_a_hung_loop_and_spares_a_healthy_one(
    user_manager: UserManager, user_units: str
) -> None:
    """R51: with WatchdogSec=1 a blocked asyncio loop stops pinging and fails Result=watchdog."""
    extra = "WatchdogSec=1\nRestart=no\n"
    healthy = start_unit(
        user_manager, user_units, "wd-ok", service_unit("watchdog", "healthy", extra=extra)
    )
    hung = start_unit(
        user_manager, user_units, "wd-hang", service_unit("watchdog", "hang", extra=extra)
    )
    try:
        user_manager.systemctl("start", healthy, hung)
        user_manager.wait_for(hung, "Result", "watchdog", timeout=20)
        assert user_manager.show(hung, "ActiveState")["ActiveState"] == "failed"
        time.sleep(2.0)  # two more intervals for the healthy one to miss a ping, if it would
        state = user_manager.show(healthy, "ActiveState", "Result")
        assert state == {"ActiveState": "active", "Result": "success"}
    finally:
        user_manager.systemctl("stop", healthy, hung, check=False)
        user_manager.systemctl("reset-failed", hung, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Client:
    """Connects to the service in a loop (bounded in time) and counts what happened."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.served = 0
        self.refused = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=20) as conn:
                    if conn.makefile("rb").readline().startswith(b"ok "):
                        self.served += 1
                    else:
                        self.errors.append("empty answer")
            except ConnectionRefusedError:
                self.refused += 1
            except OSError as exc:
                self.errors.append(repr(exc))
            time.sleep(0.01)


def test_fd_store_keeps_the_listening_socket_across_restarts(
    user_manager: UserManager, user_units: str, scratch: Path
) -> None:
    """R53/R56: with FileDescriptorStoreMax= and no .socket unit, restarts keep the same socket
    (same inode) and a client connecting throughout is always served, never refused."""
    port = _free_port()
    report = scratch / "report.jsonl"
    text = service_unit("fdstore", str(port), str(report), extra="FileDescriptorStoreMax=4\n")
    unit = start_unit(user_manager, user_units, "fdstore", text)
    client = Client(port)
    try:
        user_manager.systemctl("start", unit)
        client.thread.start()
        for _ in range(RESTARTS):
            time.sleep(0.3)
            user_manager.systemctl("restart", unit)
            user_manager.wait_for(unit, "ActiveState", "active")
        time.sleep(0.3)
        stored = user_manager.show(unit, "NFileDescriptorStore")["NFileDescriptorStore"]
    finally:
        client.stop.set()
        if client.thread.is_alive():
            client.thread.join(60)
        user_manager.systemctl("stop", unit, check=False)

    starts = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(starts) == RESTARTS + 1
    assert len({s["pid"] for s in starts}) == RESTARTS + 1, "every restart is a new process"
    assert {s["ino"] for s in starts} == {starts[0]["ino"]}, "one socket inode throughout"
    assert [s["inherited"] for s in starts] == [False] + [True] * RESTARTS
    assert stored == "1"
    assert (client.refused, client.errors) == (0, [])
    assert client.served >= RESTARTS
