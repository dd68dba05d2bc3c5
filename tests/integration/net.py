"""Shared helpers for integration tests: free loopback ports, real curl, ending processes.

Everything here talks to loopback only, and every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

from tests.conftest import require_tool

__all__ = ["curl", "free_port", "free_port_for_tcp_and_udp", "poke", "stop_process"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A 127.0.0.1 port that was free a moment ago."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_for_tcp_and_udp(attempts: int = 50) -> int:
    """A loopback port free for both TCP and UDP right now."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError(f"no port free for TCP and UDP in {attempts} attempts")


def poke(port: int, timeout: float = 10) -> None:
    """Connect once, retrying until accepted (triggers systemd-socket-activate)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def curl(*args: str, timeout: float = 10) -> dict[str, object]:
    """GET with the real curl, retrying until the server answers; the JSON it returned."""
    exe = require_tool("curl")
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(
            [exe, "-sS", "--max-time", "5", *args], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            return dict(json.loads(done.stdout))
        if time.monotonic() > deadline:
            raise AssertionError(f"curl {args} failed: {done.stderr}")
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[str], timeout: float = 10) -> None:
    """End a process this test started, by its PID: SIGTERM, then SIGKILL; close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
