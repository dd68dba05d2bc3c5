"""Server integrations end to end: asyncio, uvicorn, hypercorn, gunicorn and socketserver.

Each server serves real HTTP requests through a socket the real ``systemd-socket-activate``
passed (TCP and Unix), and rolls over to a new generation under ``socket-activation
supervise`` (SIGHUP) while a bounded client loop fails no request. The apps live in
tests/integration/apps/. In-process tests cover what the helpers add: backlogs kept, a clear
error when no socket listens, stdlib servers on a socket they did not bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import pytest

from socket_activation import ListenAddress, ListenSpec, ServerConfig, Transport
from socket_activation._errors import ConfigError
from socket_activation._resolve import Resolution, ResolvedSocket
from tests.conftest import require, require_tool
from tests.integration.apps.wsgi_app import app as wsgi_app
from tests.support.load import Load

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).with_name("apps")
SERVE = str(APPS / "serve.py")
BIN = Path(sys.executable).parent
PYTHONPATH = f"{ROOT / 'src'}:{ROOT}:{APPS}"
WAIT = 15.0  # seconds: bound on start-up, each request, and each process exit

# name -> command serving the apps on the sockets passed at fd 3.. (LISTEN_FDS)
COMMANDS: dict[str, list[str]] = {
    "asyncio": [sys.executable, SERVE, "asyncio"],
    "uvicorn": [sys.executable, SERVE, "uvicorn"],
    "hypercorn": [sys.executable, SERVE, "hypercorn"],
    "socketserver": [sys.executable, SERVE, "socketserver"],
    "uvicorn --fd 3": [str(BIN / "uvicorn"), "--fd", "3", "--log-level", "warning", "asgi_app:app"],
    "hypercorn fd://3": [str(BIN / "hypercorn"), "--bind", "fd://3", "asgi_app:app"],
    "gunicorn": [
        str(BIN / "gunicorn"),
        "--workers",
        "2",
        "--graceful-timeout",
        "10",
        "--no-control-socket",  # gunicorn 27 opens ~/.gunicorn/gunicorn.ctl otherwise
        "wsgi_app:app",
    ],
}
PACKAGES = {"uvicorn": "uvicorn", "hypercorn": "hypercorn", "gunicorn": "gunicorn"}


def require_server(name: str) -> list[str]:
    """The command for *name*, or skip (fail under CI) when its server is not installed."""
    for package in PACKAGES:
        if package in name:
            require(
                importlib.util.find_spec(package) is not None,
                f"{package} is not installed (pip install socket-activation[test])",
            )
    return COMMANDS[name]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))  # Unix paths: 107 bytes at most
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Started:
    """Processes started by a test; ended by PID (the session as a fallback) afterwards."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": PYTHONPATH},
                start_new_session=True,  # its workers can be ended with it if it hangs
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(WAIT)

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def started() -> Iterator[Started]:
    procs = Started()
    yield procs
    procs.close()


def activate(started: Started, address: str, command: list[str], log: Path) -> None:
    """``systemd-socket-activate -l ADDRESS COMMAND``: it execs COMMAND on first connection."""
    tool = require_tool("systemd-socket-activate")
    started.start([tool, "-E", f"PYTHONPATH={PYTHONPATH}", "-l", address, *command], log)


def get_tcp(port: int, path: str = "/") -> tuple[int, bytes]:
    """One request on a new connection; the first also triggers activation and waits for it.
    Refused connections (the activator not listening yet) are retried, for WAIT at most."""
    deadline = time.monotonic() + WAIT
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            conn.close()


def get_unix(path: str, url_path: str = "/") -> tuple[int, bytes]:
    """One request over a Unix socket with the real curl."""
    curl = require_tool("curl")
    out = subprocess.run(
        [
            curl,
            "-sS",
            "-m",
            str(WAIT),
            "--unix-socket",
            path,
            "-w",
            "\n%{http_code}",
            f"http://localhost{url_path}",
        ],
        capture_output=True,
        timeout=WAIT + 5,
        check=False,
    )
    assert out.returncode == 0, f"curl failed: {out.stderr!r}"
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code), body


# -- under systemd-socket-activate -------------------------------------------------------------

# TCP_NODELAY of a served connection: asyncio sets it on TCP connections only, so a server that
# took the TCP socket for a Unix one (uvicorn --fd, uvicorn #295) serves without it.
TCP_ROWS = [
    pytest.param("asyncio", 1, id="asyncio-start_servers"),
    pytest.param("uvicorn", 1, id="uvicorn-helper"),
    pytest.param("uvicorn --fd 3", 0, id="uvicorn-cli-fd-loses-tcp-nodelay"),
    pytest.param("hypercorn", 1, id="hypercorn-helper"),
    pytest.param("hypercorn fd://3", 1, id="hypercorn-cli-fd"),
    pytest.param("gunicorn", None, id="gunicorn-listen-fds"),
    pytest.param("socketserver", None, id="socketserver-make_server"),
]


@pytest.mark.parametrize(("server", "nodelay"), TCP_ROWS)
def test_server_answers_on_the_tcp_socket_systemd_socket_activate_passed(
    server: str, nodelay: int | None, started: Started, tmp_path: Path
) -> None:
    """Requests to the activated port are answered by the server exec'd on it (had it bound a
    socket of its own, they would wait on the activator's queue and time out)."""
    command = require_server(server)
    port = free_port()
    activate(started, f"127.0.0.1:{port}", command, tmp_path / "log")
    for _ in range(3):
        status, body = get_tcp(port)
        assert (status, body.isdigit()) == (200, True), (body, (tmp_path / "log").read_text())
    if nodelay is not None:
        status, body = get_tcp(port, "/conn")
        seen = json.loads(body)
        assert seen["server"] == ["127.0.0.1", port]
        assert seen["nodelay"] == nodelay


UNIX_ROWS = [
    pytest.param("asyncio", id="asyncio-start_servers"),
    pytest.param("uvicorn", id="uvicorn-helper"),
    pytest.param("hypercorn", id="hypercorn-helper"),
    pytest.param("gunicorn", id="gunicorn-listen-fds"),
    pytest.param("socketserver", id="socketserver-make_server"),
]


@pytest.mark.parametrize("server", UNIX_ROWS)
def test_server_answers_on_the_unix_socket_systemd_socket_activate_passed(
    server: str, started: Started, short_dir: Path
) -> None:
    """The same servers serve an inherited Unix stream socket, and leave its file in place."""
    serves_an_inherited_unix_socket(started, require_server(server), short_dir)


def serves_an_inherited_unix_socket(started: Started, command: list[str], short_dir: Path) -> None:
    """*command* under systemd-socket-activate on a Unix socket answers twice, then leaves the
    socket file in place when it stops."""
    path = str(short_dir / "web.sock")
    activate(started, path, command, short_dir / "log")
    deadline = time.monotonic() + WAIT
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(2):
        status, body = get_unix(path)
        assert (status, body.isdigit()) == (200, True), (body, (short_dir / "log").read_text())
    started.close()
    assert os.path.exists(path), "the server unlinked a socket file it did not create"


def test_uvicorn_fd_takes_a_udp_socket_for_a_stream_one_and_fails_without_naming_it(
    started: Started, tmp_path: Path
) -> None:
    """uvicorn --fd wraps any fd as AF_UNIX/SOCK_STREAM: given UDP it dies on listen() with
    EOPNOTSUPP and no word of the fd or its kind (why the helper resolves sockets instead)."""
    require_server("uvicorn --fd 3")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        argv = [str(BIN / "uvicorn"), "--fd", str(udp.fileno()), "asgi_app:app"]
        out = subprocess.run(
            argv,
            pass_fds=[udp.fileno()],
            capture_output=True,
            timeout=WAIT,
            env={**os.environ, "PYTHONPATH": PYTHONPATH},
            check=False,
        )
    assert out.returncode != 0
    assert b"[Errno 95] Operation not supported" in out.stderr
    assert not re.search(rb"udp|SOCK_DGRAM|datagram", out.stderr, re.IGNORECASE)


def test_helpers_refuse_a_resolution_with_no_listening_socket_naming_what_there_is() -> None:
    """Only a UDP socket to serve: ConfigError names its fd, kind and address; the socket
    bound for the call is closed again."""
    spec = ListenSpec(address=ListenAddress.parse("127.0.0.1:0", Transport.DATAGRAM))
    from socket_activation.integrations.asyncio import start_servers

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    with pytest.raises(ConfigError, match=r"no listening stream socket .*have: fd \d+ udp 127"):
        asyncio.run(start_servers(handle, ServerConfig(listen=(spec,))))


# -- what the helpers add, in process ----------------------------------------------------------


def accept_queue_limit(sock: socket.socket) -> int:
    """The listen() backlog Linux reports for a TCP listener (tcp_info.tcpi_sacked)."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
    return int(struct.unpack("8B6I", raw)[13])


def resolution_of(sock: socket.socket) -> Resolution:
    """A resolution serving *sock* as if systemd had passed it."""
    host, port = sock.getsockname()[:2]
    resolved = ResolvedSocket(
        socket=sock,
        name="web",
        source="systemd",
        kind="tcp",
        address=f"{host}:{port}",
        listening=True,
        workers=(sock,),
    )
    return Resolution((resolved,))


@pytest.fixture
def listener_37() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(37)
        yield sock


def test_start_servers_keeps_the_sockets_backlog_where_plain_asyncio_shrinks_it(
    listener_37: socket.socket,
) -> None:
    """asyncio.start_server(sock=...) calls listen(100) on the socket; start_servers calls it
    with the socket's own limit (systemd's Backlog=), here 37, and serves."""
    from socket_activation.integrations.asyncio import start_servers

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi")
        await writer.drain()
        writer.close()

    async def main() -> tuple[int, bytes, int]:
        servers = await start_servers(handle, resolution=resolution_of(listener_37))
        kept = accept_queue_limit(listener_37)
        reader, writer = await asyncio.open_connection(*listener_37.getsockname())
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        for server in servers:
            server.close()
            await server.wait_closed()
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen(37)
            plain = await asyncio.start_server(handle, sock=other)
            shrunk = accept_queue_limit(other)
            plain.close()
            await plain.wait_closed()
        return kept, answer, shrunk

    assert asyncio.run(main()) == (37, b"hi", 100)


def test_uvicorn_server_listens_with_the_sockets_backlog(listener_37: socket.socket) -> None:
    """make_server gives uvicorn the socket's own backlog (uvicorn's default is 2048)."""
    require_server("uvicorn")
    from socket_activation.integrations.uvicorn import make_server

    server = make_server(wsgi_app, resolution=resolution_of(listener_37), notify=False)
    assert (server.config.backlog, server.sockets) == (37, [listener_37])


def test_wsgiref_server_serves_a_socket_it_did_not_bind(listener_37: socket.socket) -> None:
    """make_server with wsgiref's WSGIServer: no bind, no listen (the backlog stays 37), the
    base environ that server_bind would set is there, and a real request is answered."""
    from socket_activation.integrations.socketserver import make_server

    server = make_server(listener_37, WSGIRequestHandler, server_class=WSGIServer)
    assert isinstance(server, WSGIServer)
    server.set_app(wsgi_app)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    host, port = listener_37.getsockname()
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=WAIT) as response:
        body = response.read()
    thread.join(WAIT)
    assert (body, accept_queue_limit(listener_37)) == (str(os.getpid()).encode(), 37)
    assert server.base_environ["SERVER_PORT"] == str(port)


def test_socketserver_serves_a_unix_datagram_socket_with_the_server_its_kind_needs(
    short_dir: Path,
) -> None:
    """A unix-dgram socket gets ThreadingUnixDatagramServer, which answers a datagram."""
    import socketserver

    from socket_activation.integrations.socketserver import make_server

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(data.upper(), self.client_address)

    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as served,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client,
    ):
        served.bind(str(short_dir / "s"))
        client.bind(str(short_dir / "c"))
        client.settimeout(WAIT)
        server = make_server(served, Echo)
        assert isinstance(server, socketserver.ThreadingUnixDatagramServer)
        client.sendto(b"ping", str(short_dir / "s"))
        server.handle_request()
        assert client.recv(16) == b"PING"


def test_socketserver_refuses_a_seqpacket_socket_naming_its_kind() -> None:
    """No stdlib server serves SOCK_SEQPACKET: the error names the fd and kind."""
    from socket_activation._errors import InheritedSocketError
    from socket_activation.integrations.socketserver import make_server

    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock,
        pytest.raises(InheritedSocketError, match=rf"fd {sock.fileno()} is unix-seqpacket"),
    ):
        make_server(sock, WSGIRequestHandler)


# -- restarts under supervise ------------------------------------------------------------------


SUPERVISE_ROWS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param("uvicorn", id="uvicorn"),
    pytest.param("hypercorn", id="hypercorn"),
    pytest.param("gunicorn", id="gunicorn"),
    pytest.param("socketserver", id="socketserver"),
]


@pytest.mark.parametrize("server", SUPERVISE_ROWS)
def test_server_rolls_over_under_supervise_sighup_with_no_failed_request(
    server: str, started: Started, tmp_path: Path
) -> None:
    """SIGHUP to supervise: the new generation says READY=1, the old one drains on SIGTERM; a
    bounded client loop sees only answers, first from the old processes, then the new."""
    command = require_server(server)
    port = free_port()
    log = tmp_path / "log"
    argv = [sys.executable, "-m", "socket_activation", "supervise", "-l", f"127.0.0.1:{port}"]
    supervise = started.start([*argv, "--drain-timeout", "10", "--", *command], log)

    def wait_log(pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            match = re.search(pattern, log.read_text())
            if match:
                return match
            assert supervise.poll() is None, log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"log never matched {pattern!r}:\n{log.read_text()}")

    wait_log(r"generation 1 \(pid \d+\) is ready")
    with Load(("127.0.0.1", port), clients=4) as load:  # the default cap: 200,000
        time.sleep(0.5)
        rollout = time.monotonic()
        os.kill(supervise.pid, signal.SIGHUP)
        old = wait_log(r"generation 2 \(pid \d+\) is ready; generation 1 \(pid (\d+)\) is draining")
        wait_log(rf"generation 1 \(pid {old.group(1)}\) (exited|was killed)")
        gone = time.monotonic()
        time.sleep(0.5)
    failed = [
        (round(s.start - rollout, 3), round(s.latency, 3), s.outcome)
        for s in load.samples
        if s.outcome != "ok"
    ]
    assert load.failures() == {}, f"{failed} (exit at {gone - rollout:.3f} s)\n{log.read_text()}"
    before = {s.pid for s in load.samples if s.start + s.latency < rollout}
    after = {s.pid for s in load.samples if s.start > gone}
    assert before, "nothing answered before the rollout"
    slow = [
        (round(s.start - rollout, 2), round(s.latency, 2), s.pid)
        for s in load.samples
        if s.latency > 1
    ]
    assert after, (
        f"nothing answered after the old generation was gone; slow: {slow}, {gone - rollout}"
    )
    assert not before & after, f"old processes {before & after} answered after exiting"
    assert started.stop(supervise) in (0, 128 + signal.SIGTERM), log.read_text()
