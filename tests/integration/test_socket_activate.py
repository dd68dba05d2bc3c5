"""End to end under the real systemd-socket-activate 252: what a server started by it sees.

The server (tests/integration/_activated_server.py) reads the snapshot, writes a JSON report,
then answers once through the wrapped socket. Each test triggers activation by sending traffic
on loopback (or a Unix socket), waits (bounded) for the answer and the report, and checks fds,
names, kinds and addresses.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("_activated_server.py")
WAIT = 15.0  # seconds: bound on every wait for activation, answers and reports


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free right now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Activator:
    """Runs systemd-socket-activate around the server and reads its report."""

    def __init__(self, workdir: Path) -> None:
        self.tool = require_tool("systemd-socket-activate")
        self.workdir = workdir
        self.report_path = workdir / "report.json"
        self.procs: list[subprocess.Popen[bytes]] = []

    def server_argv(self, serve: str = "") -> list[str]:
        argv = [sys.executable, str(SERVER), str(self.report_path)]
        return [*argv, serve] if serve else argv

    def start(self, *args: str, serve: str = "", chain: list[str] | None = None) -> None:
        """Start ``systemd-socket-activate ARGS [CHAIN...] server``; CHAIN is an inner
        systemd-socket-activate invocation that inherits the outer's fds."""
        pythonpath = f"PYTHONPATH={ROOT / 'src'}"
        argv = [self.tool, "-E", pythonpath, *args]
        if chain:
            argv += [self.tool, "-E", pythonpath, *chain]
        argv += self.server_argv(serve)
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.procs.append(proc)

    def report(self) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.report_path.exists():
                return dict(json.loads(self.report_path.read_text()))
            for proc in self.procs:
                if proc.poll() not in (None, 0):
                    assert proc.stderr is not None
                    pytest.fail(f"systemd-socket-activate failed: {proc.stderr.read()!r}")
            time.sleep(0.02)
        pytest.fail(f"no report from the activated server within {WAIT} s")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()  # our own child, by its Popen (pid), never by name
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=WAIT)
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.fixture
def activator() -> Iterator[Activator]:
    workdir = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    act = Activator(workdir)
    try:
        yield act
    finally:
        act.close()
        shutil.rmtree(workdir, ignore_errors=True)


def connect_until_up(family: int, address: Any) -> socket.socket:
    """Connect once systemd-socket-activate has bound the address (bounded retries)."""
    deadline = time.monotonic() + WAIT
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        try:
            sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
            continue
        return sock


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def wait_bound(port: int, kind: int) -> None:
    """Wait until a loopback port is taken (by systemd-socket-activate), bounded."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.02)
    pytest.fail(f"port {port} was never bound")


def test_tcp_listener_is_passed_named_and_served(activator: Activator) -> None:
    """R88/R89/R96: one -l TCP address becomes fd 3, named by --fdname, listening; the
    wrapped socket accepts the connection that triggered activation."""
    port = free_port()
    activator.start("-l", f"127.0.0.1:{port}", "--fdname=web", serve="3")
    with connect_until_up(socket.AF_INET, ("127.0.0.1", port)) as client:
        assert read_line(client) == b"hello web\n"
    report = activator.report()
    assert report["source"] == "systemd"
    assert report["env"] == {}
    assert report["notes"] == []
    assert report["fds"] == [
        {
            "fd": 3,
            "name": "web",
            "kind": "tcp",
            "family": "AF_INET",
            "listening": True,
            "address": f"127.0.0.1:{port}",
            "peer": None,
            "is_connection": False,
        }
    ]


def test_chained_activation_passes_tcp_then_udp(activator: Activator) -> None:
    """R94: an inner systemd-socket-activate -d keeps the outer's TCP fd as 3 and appends its
    UDP fd as 4; names come from the inner --fdname; the UDP socket echoes a datagram."""
    tcp_port = free_port()
    udp_port = free_port(socket.SOCK_DGRAM)
    activator.start(
        "-l",
        f"127.0.0.1:{tcp_port}",
        chain=["-d", "-l", f"127.0.0.1:{udp_port}", "--fdname=web:dns"],
        serve="4",
    )
    with connect_until_up(socket.AF_INET, ("127.0.0.1", tcp_port)):
        wait_bound(udp_port, socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(WAIT)
            client.sendto(b"ping", ("127.0.0.1", udp_port))
            answer, _ = client.recvfrom(4096)
    assert answer == b"hello dns\nping"
    report = activator.report()
    got = [(e["fd"], e["name"], e["kind"], e["address"], e["listening"]) for e in report["fds"]]
    assert got == [
        (3, "web", "tcp", f"127.0.0.1:{tcp_port}", True),
        (4, "dns", "udp", f"127.0.0.1:{udp_port}", False),
    ]


@pytest.mark.parametrize(
    "abstract",
    [pytest.param(False, id="unix-path"), pytest.param(True, id="abstract")],
)
def test_unix_listeners_are_passed(activator: Activator, abstract: bool) -> None:
    """R88: Unix path and @abstract addresses arrive as unix-stream listeners with their
    address; without --fdname the name is 'unknown' (R17)."""
    if abstract:
        name = f"sa-test-{uuid.uuid4().hex[:12]}"
        listen, address, target = f"@{name}", f"@{name}", "\0" + name
    else:
        path = str(activator.workdir / "s.sock")
        listen = address = target = path
    activator.start("-l", listen, serve="3")
    with connect_until_up(socket.AF_UNIX, target) as client:
        assert read_line(client) == b"hello unknown\n"
    (entry,) = activator.report()["fds"]
    assert (entry["fd"], entry["name"], entry["kind"], entry["address"]) == (
        3,
        "unknown",
        "unix-stream",
        address,
    )
    assert entry["listening"] is True


@pytest.mark.parametrize(
    ("fdname", "names"),
    [
        pytest.param("a:b:c", ["a", "b", "c"], id="one-name-each"),
        pytest.param("one", ["one", "one", "one"], id="one-name-replicated-R91"),
    ],
)
def test_several_names_pair_with_fds_in_order(
    activator: Activator, fdname: str, names: list[str]
) -> None:
    """R91: --fdname names pair with the -l sockets in order; a single name is replicated."""
    path = str(activator.workdir / "a.sock")
    ports = [free_port(), free_port()]
    activator.start(
        "-l", path, "-l", f"127.0.0.1:{ports[0]}", "-l", f"127.0.0.1:{ports[1]}",
        f"--fdname={fdname}",
    )  # fmt: skip
    with connect_until_up(socket.AF_UNIX, path):
        report = activator.report()
    assert [e["name"] for e in report["fds"]] == names
    assert [e["kind"] for e in report["fds"]] == ["unix-stream", "tcp", "tcp"]
    assert [e["fd"] for e in report["fds"]] == [3, 4, 5]


def test_a_name_count_mismatch_is_noted_not_fatal(activator: Activator) -> None:
    """R91: two names for three fds is passed as-is; the snapshot keeps the fds as 'unknown'
    and says why (libsystemd itself would return EINVAL)."""
    path = str(activator.workdir / "a.sock")
    activator.start(
        "-l", path, "-l", f"127.0.0.1:{free_port()}", "-l", f"127.0.0.1:{free_port()}",
        "--fdname=a:b",
    )  # fmt: skip
    with connect_until_up(socket.AF_UNIX, path):
        report = activator.report()
    assert [e["name"] for e in report["fds"]] == ["unknown"] * 3
    assert "got 2: 'a', 'b'" in report["notes"][0]


@pytest.mark.parametrize(
    ("fdname", "name"),
    [
        pytest.param("connection", "connection", id="named-connection"),
        pytest.param(None, "unknown", id="unnamed"),
    ],
)
def test_accept_mode_passes_a_connection(
    activator: Activator, fdname: str | None, name: str
) -> None:
    """R90: with -a each connection is fd 3 of a new child, a connected socket whose peer is
    the client; it is reported as a connection, not a listener, and answers through it."""
    port = free_port()
    extra = [f"--fdname={fdname}"] if fdname else []
    activator.start("-a", "-l", f"127.0.0.1:{port}", *extra, serve="3")
    with connect_until_up(socket.AF_INET, ("127.0.0.1", port)) as client:
        assert read_line(client) == f"hello {name}\n".encode()
        client_address = "{}:{}".format(*client.getsockname())
    (entry,) = activator.report()["fds"]
    assert (entry["fd"], entry["name"], entry["kind"]) == (3, name, "tcp")
    assert entry["is_connection"] is True
    assert entry["listening"] is False
    assert entry["peer"] == client_address


@pytest.mark.parametrize(
    "accept",
    [pytest.param(True, id="inetd-accept"), pytest.param(False, id="inetd-listener")],
)
def test_inetd_mode_puts_the_socket_on_stdin(activator: Activator, accept: bool) -> None:
    """R92/R78a: --inetd passes no LISTEN_* and the socket on fd 0: the connection with -a,
    the listening socket without; the snapshot reports source 'inetd'."""
    port = free_port()
    activator.start("--inetd", *(["-a"] if accept else []), "-l", f"127.0.0.1:{port}", serve="0")
    with connect_until_up(socket.AF_INET, ("127.0.0.1", port)) as client:
        assert read_line(client) == b"hello stdin\n"
    report = activator.report()
    assert report["source"] == "inetd"
    (entry,) = report["fds"]
    assert (entry["fd"], entry["kind"], entry["is_connection"]) == (0, "tcp", accept)
    assert entry["listening"] is (not accept)
