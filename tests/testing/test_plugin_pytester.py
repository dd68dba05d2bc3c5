"""The plugin as a user meets it: a sample project's own test suite, run by pytest.

The sample project (written into a temporary directory) has a uvicorn app, a socketserver
app and an app that fails before READY=1, and tests that use the fixtures the way a user
would. It is run in a subprocess (the plugin is loaded from the installed ``pytest11`` entry
point, nothing in the sample's conftest), plain and under ``pytest -n 2`` (pytest-xdist: the
port-0 sockets are what keep two workers from racing for a port).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

UVICORN_APP = '''
"""A FastAPI-style ASGI app served by uvicorn on the sockets it was passed."""
import os

async def app(scope, receive, send):
    assert scope["type"] == "http"
    body = f"hello from {os.getpid()}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

if __name__ == "__main__":
    import sys
    from socket_activation.integrations.uvicorn import run
    print("uvicorn running on a passed socket", file=sys.stderr, flush=True)
    run(app, log_level="warning")  # READY=1 once uvicorn accepts
'''

SOCKETSERVER_APP = '''
"""http.server on the passed sockets through socket_activation.integrations.socketserver."""
import http.server, os, signal, threading
import socket_activation
from socket_activation.integrations.socketserver import make_server

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"socketserver {os.getpid()} on {self.server.server_address!r}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

resolution = socket_activation.resolve()
servers = [make_server(s, Handler) for s in resolution.stream]
# SIGTERM blocked in every thread and taken by sigwait in this one: a handler would run only
# when the kernel picks the main thread, and a main thread asleep in join() never wakes
# (restart_under_load caught exactly that: a 10 s stop and a reset, one restart in three)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
threads = [threading.Thread(target=s.serve_forever) for s in servers]
for t in threads:
    t.start()
socket_activation.ready(status=f"serving {len(servers)} socket(s)")
signal.sigwait({signal.SIGTERM})
for s in servers:
    s.shutdown()
'''

BROKEN_APP = '''
"""Reads its settings before it is ready, and fails like a real app does."""
import os, sys
print("starting broken_app", file=sys.stderr)
os.environ["DATABASE_URL"]  # KeyError: the traceback goes to stderr
'''

SAMPLE_TESTS = """
import shutil, signal, sys, tempfile, urllib.request
import pytest
from socket_activation.testing import ServerExitedError

def get(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()

@pytest.mark.parametrize("n", range(2))
def test_uvicorn_app_answers_on_its_socket(activated_server, n):
    server = activated_server([sys.executable, "uvicorn_app.py"], listen=["127.0.0.1:0"],
                              names=["web"])
    server.wait_ready(timeout=20)
    assert get(server.url("web")) == f"hello from {server.pid}"
    assert server.stop() == -signal.SIGTERM  # uvicorn re-raises SIGTERM once it shut down

def test_uvicorn_app_rolls_over_under_supervise_without_a_failed_request(
        activated_server, restart_under_load):
    server = activated_server([sys.executable, "uvicorn_app.py"], listen=["127.0.0.1:0"],
                              supervise=True)
    result = restart_under_load(server, clients=4, restarts=2)
    assert result.failed == 0, result.summary()
    assert result.restarts == 2

@pytest.fixture
def short_dir():  # a Unix socket path must fit in 107 bytes: tmp_path is too deep
    path = tempfile.mkdtemp(prefix="sa-", dir="/tmp")
    yield path
    shutil.rmtree(path)

@pytest.mark.parametrize("n", range(2))
def test_socketserver_app_serves_tcp_and_unix(activated_server, short_dir, n):
    path = f"{short_dir}/app.sock"
    server = activated_server([sys.executable, "socketserver_app.py"],
                              listen=["127.0.0.1:0", path], names=["web", "local"])
    server.wait_ready(timeout=20)
    assert server.status == "serving 2 socket(s)"
    assert get(server.url("web")).startswith(f"socketserver {server.pid} on ('127.0.0.1', ")
    assert server.address("local") == path

def test_socketserver_app_survives_restarts(activated_server, restart_under_load):
    server = activated_server([sys.executable, "socketserver_app.py"], listen=["127.0.0.1:0"])
    result = restart_under_load(server, clients=2, restarts=2, how="restart")
    assert result.failed == 0, result.summary()

def test_resolve_in_an_activated_test_process(systemd_activation_env):
    from socket_activation import resolve
    with systemd_activation_env(["127.0.0.1:0", "datagram:127.0.0.1:0"], names=["web", "quic"]):
        assert [(s.fd, s.name, s.source) for s in resolve()] == [
            (3, "web", "systemd"), (4, "quic", "systemd")]

def test_ready_from_in_process_code(notify_socket):
    import socket_activation
    socket_activation.ready(status="up")
    assert notify_socket.wait("READY", "1").fields["STATUS"] == "up"

def test_broken_app_says_why_it_never_became_ready(activated_server):
    server = activated_server([sys.executable, "broken_app.py"], listen=["127.0.0.1:0"])
    with pytest.raises(ServerExitedError) as failed:
        server.wait_ready(timeout=20)
    assert failed.value.returncode == 1
    assert "starting broken_app" in failed.value.stderr
    assert "KeyError: 'DATABASE_URL'" in str(failed.value)
"""

# a test that fails with its server running: teardown must still end it
FAILING_TEST = """
import os, sys

def test_fails_while_serving(activated_server):
    server = activated_server([sys.executable, "uvicorn_app.py"], listen=["127.0.0.1:0"])
    server.wait_ready(timeout=20)
    with open(os.environ["PID_FILE"], "a") as f:
        f.write(f"{server.pid}\\n")
    assert False, "the test failed; the server must not outlive it"

def test_never_ready_is_reported_with_stderr(activated_server):
    server = activated_server([sys.executable, "broken_app.py"], listen=["127.0.0.1:0"])
    server.wait_ready(timeout=20)
"""


@pytest.fixture
def sample(pytester: pytest.Pytester) -> pytest.Pytester:
    """The sample project: three apps and their tests; the plugin comes from the entry point."""
    pytester.makepyfile(
        uvicorn_app=UVICORN_APP,
        socketserver_app=SOCKETSERVER_APP,
        broken_app=BROKEN_APP,
        test_apps=SAMPLE_TESTS,
    )
    return pytester


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_sample_project_passes(sample: pytest.Pytester) -> None:
    """Plain pytest: every sample test passes (9: the three apps, restarts, a failed start,
    the in-process fixtures)."""
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=9)


def test_the_sample_project_passes_under_xdist(sample: pytest.Pytester) -> None:
    """``pytest -n 2``: two workers bind their sockets at once, never the same port."""
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=300)
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["*created: 2/2 workers*"])


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_a_failing_test_leaves_no_server_behind(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """The test fails with its server serving: teardown ends it all the same; an app that
    never gets ready fails its test with the app's own traceback in the report."""
    pytester.makepyfile(uvicorn_app=UVICORN_APP, broken_app=BROKEN_APP, test_fail=FAILING_TEST)
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("PID_FILE", str(pid_file))  # the subprocess inherits it
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers, timeout=300)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*ServerExitedError: *broken_app.py* exited with status 1 before READY=1",
            "*--- the tail of its stderr ---",
            "*starting broken_app",
        ]
    )
    # the report of the test that failed with its server serving quotes the server's stderr
    result.stdout.fnmatch_lines(
        ["*activated_server * uvicorn_app.py (stderr)*", "*uvicorn running on a passed socket*"]
    )
    (pid,) = [int(line) for line in pid_file.read_text().split()]
    deadline = time.monotonic() + 5
    while alive(pid):  # the run reaped it before it ended; give the kernel a moment
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)  # never leave it running, even when this fails
            pytest.fail(f"server {pid} outlived its failed test")
        time.sleep(0.05)
