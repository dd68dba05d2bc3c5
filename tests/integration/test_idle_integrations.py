"""The integrations' idle exit: asyncio, uvicorn, hypercorn and socketserver, each for real.

The test plays the service manager: it holds the listening socket, starts the server on it
(LISTEN_FDS, a NOTIFY_SOCKET of its own) and starts it again when a connection waits. Each
server must keep serving while a request is in flight, then exit 0 after STOPPING=1; a
connection made after the exit waits in the queue and is answered by the next start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation import ListenAddress, ListenSpec, ServerConfig, Transport
from socket_activation._errors import ConfigError
from socket_activation._resolve import Resolution, resolve
from socket_activation.restart.readiness import ReadinessSocket
from socket_activation.restart.spawn import spawn_with_sockets
from socket_activation.systemd.activation import SystemdActivation
from tests.conftest import require
from tests.support.load import Load

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APP = str(Path(__file__).with_name("apps") / "serve_idle.py")
SERVERS = ["asyncio", "uvicorn", "hypercorn", "socketserver"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


class Server:
    def __init__(self, name: str, listener: socket.socket, seconds: float = 1.0) -> None:
        self.manager = ReadinessSocket()
        env = dict(
            os.environ, NOTIFY_SOCKET=self.manager.address, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}"
        )
        argv = [sys.executable, APP, name, str(seconds)]
        self.pid = spawn_with_sockets(argv, [listener.fileno()], ["web"], env)
        self.status: int | None = None

    def wait_ready(self) -> None:
        self.manager.wait_ready(self.pid, 20)

    def alive(self) -> bool:
        return self.status is None and os.waitpid(self.pid, os.WNOHANG) == (0, 0)

    def wait_exit(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        raise AssertionError(f"pid {self.pid} did not exit within {timeout} s")

    def stopping_sent(self) -> bool:
        return any(n.fields.get("STOPPING") == "1" for n in self.manager.drain())

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.manager.close()


@pytest.mark.parametrize("name", SERVERS)
def test_serves_while_busy_then_exits_0_and_the_next_connection_waits(
    name: str, listener: socket.socket
) -> None:
    if name in ("uvicorn", "hypercorn"):
        require(importlib.util.find_spec(name) is not None, f"{name} is not installed")
    load = Load(listener.getsockname(), clients=1, path="/hold")
    server = Server(name, listener)
    try:
        server.wait_ready()
        held = load.one(b"GET /hold HTTP/1.0\r\n\r\n")  # 1.5 s in flight: longer than idle
        assert held.outcome == "ok"
        assert server.alive()
        time.sleep(0.3)
        assert server.alive(), "exited before a whole idle time had passed"
        assert server.wait_exit() == 0
        assert server.stopping_sent()
    finally:
        server.close()
    # down now: the connection waits in the kernel's queue (nobody accepts) ...
    client = socket.create_connection(listener.getsockname(), timeout=20)
    with client:
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        again = Server(name, listener)  # ... until the "manager" starts the service again
        try:
            answer = b""
            while chunk := client.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1."), answer
            assert answer.rstrip().endswith(str(again.pid).encode())
        finally:
            again.close()


@pytest.mark.parametrize("name", SERVERS)
def test_refused_on_sockets_bound_here(name: str) -> None:
    if name in ("uvicorn", "hypercorn"):
        require(importlib.util.find_spec(name) is not None, f"{name} is not installed")
    spec = ListenSpec(address=ListenAddress.parse("127.0.0.1:0", Transport.STREAM))
    resolution = resolve(ServerConfig(listen=(spec,)), systemd=SystemdActivation(source="", fds=()))
    try:
        _refusal(name, resolution)
    finally:
        resolution.close()


def _refusal(name: str, resolution: Resolution) -> None:
    with pytest.raises(ConfigError, match="exit_idle_time: needs sockets a service manager holds"):
        _with_idle_exit(name, resolution)


def _with_idle_exit(name: str, resolution: Resolution) -> None:
    if name == "uvicorn":
        from socket_activation.integrations.uvicorn import make_server

        make_server(None, resolution=resolution, exit_idle_time=1)
    elif name == "socketserver":
        from http.server import BaseHTTPRequestHandler

        from socket_activation.integrations import socketserver

        server = socketserver.make_server(resolution.stream[0], BaseHTTPRequestHandler)
        socketserver.serve_until_idle(server, 1)
    else:
        import asyncio

        asyncio.run(_async_refusal(name, resolution))


async def _async_refusal(name: str, resolution: Resolution) -> None:
    if name == "asyncio":
        from socket_activation.integrations.asyncio import close_when_idle, start_servers

        async def handle(*_: object) -> None:
            pass

        servers = await start_servers(handle, resolution=resolution)
        await close_when_idle(servers, 1)
    else:
        from socket_activation.integrations.hypercorn import serve

        await serve(None, resolution=resolution, exit_idle_time=1)
