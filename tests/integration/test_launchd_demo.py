"""The demo and inspect served by launchd, on Linux, through the C stand-in for libSystem.

The plist in units/ drives the test: its EnvironmentVariables are the child's, its Sockets keys
are the names the stand-in answers, each with a real socket of the plist's kind (on a free port
and a temp path here, not 8000 and /tmp). The child loads the stand-in through
SOCKET_ACTIVATION_LAUNCHD_LIBRARY, so its own code path is exactly the macOS one.
"""

from __future__ import annotations

import http.client
import json
import os
import plistlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socket_activation.launchd.activation import LAUNCHD_LIBRARY_VARIABLE
from tests.conftest import require_tool
from tests.integration.net import stop_process
from tests.support.launchd_stub import SPEC_VARIABLE, build_stub

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "socket_activation"]
PLIST = Path(__file__).parent.parent.parent / "units" / "io.github.socket-activation.demo.plist"


@pytest.fixture(scope="module")
def stub_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_stub(require_tool("gcc"), tmp_path_factory.mktemp("launchd-stub"))


@pytest.fixture
def launchd_sockets(short_tmp: str) -> Iterator[dict[str, socket.socket]]:
    """One listening socket per key of the plist's Sockets: TCP on loopback, Unix in a temp dir."""
    with PLIST.open("rb") as f:
        job = plistlib.load(f)
    made: dict[str, socket.socket] = {}
    for name, entry in job["Sockets"].items():
        if "SockPathName" in entry:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(f"{short_tmp}/{name}.sock")
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((entry["SockNodeName"], 0))
        sock.listen()
        made[name] = sock
    yield made
    for sock in made.values():
        sock.close()


def child_env(stub: Path, sockets: dict[str, socket.socket]) -> dict[str, str]:
    """The plist's EnvironmentVariables (but PATH), plus the stand-in and its answers."""
    with PLIST.open("rb") as f:
        job: dict[str, Any] = plistlib.load(f)
    env = {**os.environ, **job["EnvironmentVariables"], "PATH": os.environ.get("PATH", "")}
    env[LAUNCHD_LIBRARY_VARIABLE] = str(stub)
    env[SPEC_VARIABLE] = ";".join(f"{name}={s.fileno()}" for name, s in sockets.items())
    return env


def test_inspect_reports_the_launchd_sockets(
    stub_library: Path, launchd_sockets: dict[str, socket.socket]
) -> None:
    """inspect --json lists both plist sockets with source launchd, their names and addresses."""
    done = subprocess.run(
        [*CLI, "inspect", "--json"],
        env=child_env(stub_library, launchd_sockets),
        pass_fds=[s.fileno() for s in launchd_sockets.values()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    web, unix = launchd_sockets["web"], launchd_sockets["unix"]
    assert [(s["name"], s["source"], s["kind"], s["address"]) for s in report["sockets"]] == [
        ("web", "launchd", "tcp", f"127.0.0.1:{web.getsockname()[1]}"),
        ("unix", "launchd", "unix-stream", unix.getsockname()),
    ]


def test_inspect_with_the_plist_as_config_takes_launchd_sockets_by_name(
    stub_library: Path, launchd_sockets: dict[str, socket.socket]
) -> None:
    """Given the plist as its config (--plist), inspect matches launchd's sockets to its Sockets
    keys by name (here on other addresses than the plist's) and binds nothing."""
    env = child_env(stub_library, launchd_sockets)
    del env["SOCKET_ACTIVATION_LAUNCHD_NAMES"]  # the names come from the plist's Sockets keys
    done = subprocess.run(
        [*CLI, "inspect", "--json", "--plist", str(PLIST)],
        env=env,
        pass_fds=[s.fileno() for s in launchd_sockets.values()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(s["name"], s["source"], s["kind"]) for s in report["sockets"]] == [
        ("web", "launchd", "tcp"),
        ("unix", "launchd", "unix-stream"),
    ]


def get(connect: Any, timeout: float = 20) -> dict[str, Any]:
    """GET / on a fresh connection made by *connect*, retried until the demo answers."""
    deadline = time.monotonic() + timeout
    while True:
        conn = connect()
        try:
            conn.request("GET", "/")
            return dict(json.loads(conn.getresponse().read()))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(5)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def test_the_demo_serves_on_the_launchd_sockets(
    stub_library: Path, launchd_sockets: dict[str, socket.socket]
) -> None:
    """The demo answers on the TCP and the Unix socket launchd passed, saying source launchd."""
    proc = subprocess.Popen(
        [*CLI, "demo"],
        env=child_env(stub_library, launchd_sockets),
        pass_fds=[s.fileno() for s in launchd_sockets.values()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        web_port = launchd_sockets["web"].getsockname()[1]
        unix_path = launchd_sockets["unix"].getsockname()
        over_tcp = get(lambda: http.client.HTTPConnection("127.0.0.1", web_port, timeout=5))
        over_unix = get(lambda: UnixHTTPConnection(unix_path))
        assert (over_tcp["source"], over_tcp["name"], over_tcp["kind"]) == (
            "launchd",
            "web",
            "tcp",
        )
        assert (over_unix["source"], over_unix["name"], over_unix["address"]) == (
            "launchd",
            "unix",
            unix_path,
        )
        assert over_tcp["pid"] == over_unix["pid"] == proc.pid
    finally:
        stop_process(proc)
