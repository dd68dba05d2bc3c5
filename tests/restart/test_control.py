"""The control socket and the reload client, over real abstract sockets and real processes.

Who may ask (root or the server's uid), whom the client believes (only the pid it asked for),
and what it says when nobody answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation.restart.control import (
    ControlRequest,
    ControlServer,
    control_address,
    peer_credentials,
)
from socket_activation.restart.reload import ReloadError, ReloadOutcome, request_reload
from tests.conftest import require_root, require_tool

ROOT = Path(__file__).resolve().parents[2]


def serve_once(
    server: ControlServer, answer: Callable[[ControlRequest], None], timeout: float = 10
) -> threading.Thread:
    """Answer the first request that arrives with *answer*, in a thread."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for request in server.poll():
                answer(request)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def server() -> Iterator[ControlServer]:
    with ControlServer() as srv:
        yield srv


def test_the_address_names_the_pid_and_the_pid_namespace() -> None:
    """Abstract, under socket-activation/control/, with our pid namespace and the pid."""
    ns = os.stat("/proc/self/ns/pid").st_ino
    assert control_address(1234) == f"\0socket-activation/control/{ns}/1234".encode()
    with pytest.raises(ValueError, match="positive"):
        control_address(0)


def test_a_reload_request_gets_the_servers_answer(server: ControlServer) -> None:
    """The client sends {"action": "reload"}; the server's success comes back with the pid."""
    seen: list[ControlRequest] = []

    def answer(request: ControlRequest) -> None:
        seen.append(request)
        request.succeed("generation 2 serves", pid=4242)

    thread = serve_once(server, answer)
    outcome = request_reload(os.getpid(), timeout=5)
    thread.join(5)
    assert outcome == ReloadOutcome(4242, "generation 2 serves")
    assert seen[0].action == "reload"
    assert seen[0].peer.pid == os.getpid()
    assert seen[0].peer.uid == os.geteuid()


def test_a_failed_reload_raises_with_the_servers_reason(server: ControlServer) -> None:
    thread = serve_once(
        server, lambda r: r.fail("generation 2 exited with status 3 before READY=1")
    )
    with pytest.raises(ReloadError, match=r"^generation 2 exited with status 3 before READY=1$"):
        request_reload(os.getpid(), timeout=5)
    thread.join(5)


def test_no_answer_within_the_timeout_is_an_error(server: ControlServer) -> None:
    """The server accepts but never answers: the client gives up after its timeout."""
    started = time.monotonic()
    with pytest.raises(ReloadError, match=r"no outcome from process \d+ within 0.3 s"):
        request_reload(os.getpid(), timeout=0.3)
    assert time.monotonic() - started < 5


def test_a_process_without_control_socket_is_named() -> None:
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            with pytest.raises(ReloadError, match=rf"process {child.pid} has no control socket"):
                request_reload(child.pid, timeout=2)
        finally:
            child.kill()


def test_a_squatted_name_is_not_believed() -> None:
    """Another process binds the name of pid N first: the client sees the listener's real pid
    through SO_PEERCRED and refuses, instead of taking a fake 'ok'."""
    with subprocess.Popen(["sleep", "30"]) as target:
        script = (
            "import socket, sys, time, json\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
            "s.bind(bytes.fromhex(sys.argv[1])); s.listen(4)\n"
            "print('bound', flush=True)\n"
            "c, _ = s.accept()\n"
            "try:\n"
            "    c.recv(4096); c.send(json.dumps({'ok': True, 'message': 'fake'}).encode())\n"
            "except OSError:\n"
            "    pass  # the client hung up before asking: it did not believe us\n"
            "time.sleep(30)\n"
        )
        argv = [sys.executable, "-c", script, control_address(target.pid).hex()]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as squatter:
            try:
                assert squatter.stdout is not None
                assert squatter.stdout.readline() == "bound\n"
                with pytest.raises(
                    ReloadError,
                    match=rf"control socket of process {target.pid} is held by process "
                    rf"{squatter.pid} \(uid \d+\): refusing",
                ):
                    request_reload(target.pid, timeout=5)
                # and the real owner could not have bound it: the name is taken
                with pytest.raises(OSError, match="Address already in use"):
                    ControlServer(pid=target.pid)
            finally:
                squatter.kill()
                target.kill()


def test_a_client_of_another_uid_is_refused(server: ControlServer) -> None:
    """uid nobody asks a root server: 'refused', and no request reaches the server."""
    require_root()
    setpriv = require_tool("setpriv")
    got: list[ControlRequest] = []
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            got.extend(server.poll())
            time.sleep(0.005)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        done = subprocess.run(
            [
                setpriv,
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                # the base interpreter, stdlib only: nobody may not read this checkout
                os.path.realpath(sys.executable),
                "-I",
                "-c",
                "import json, socket, sys\n"
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
                "s.settimeout(5)\n"
                "s.connect(bytes.fromhex(sys.argv[1]))\n"
                "s.send(json.dumps({'action': 'reload'}).encode())\n"
                "print(json.loads(s.recv(4096))['error'])\n",
                server.address.hex(),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        stop.set()
        thread.join(5)
    assert done.returncode == 0, done.stderr
    import pwd

    uid = pwd.getpwnam("nobody").pw_uid
    assert done.stdout.strip() == (
        f"refused: uid {uid} may not control process {os.getpid()} (only root may)"
    )
    assert got == []


def test_malformed_requests_get_an_error_and_reach_nobody(server: ControlServer) -> None:
    answers = []
    for payload in (b"not json", b"[1, 2]", json.dumps({"action": "explode"}).encode()):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
            client.settimeout(5)
            client.connect(server.address)
            client.send(payload)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                assert server.poll() == []
                try:
                    client.settimeout(0.01)
                    answers.append(json.loads(client.recv(4096)))
                    break
                except TimeoutError:
                    continue
    assert [a["ok"] for a in answers] == [False, False, False]
    assert "one JSON object" in answers[0]["error"]
    assert '"action"' in answers[1]["error"]
    assert "unknown action 'explode'" in answers[2]["error"]


def test_a_client_that_leaves_without_asking_is_dropped(server: ControlServer) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as client:
        client.connect(server.address)
        assert peer_credentials(client).pid == os.getpid()
        server.poll()
        assert len(server.filenos()) == 2  # the listener and the waiting client
    deadline = time.monotonic() + 5
    while len(server.filenos()) > 1 and time.monotonic() < deadline:
        assert server.poll() == []
        time.sleep(0.005)
    assert len(server.filenos()) == 1


def test_the_server_going_away_mid_request_is_reported() -> None:
    """The server closes the connection without an answer (it exited): the client says so."""
    srv = ControlServer()

    def drop(request: ControlRequest) -> None:
        assert request._conn is not None
        request._conn.close()
        request._conn = None

    thread = serve_once(srv, drop)
    try:
        with pytest.raises(ReloadError, match="closed the connection without an answer"):
            request_reload(os.getpid(), timeout=5)
    finally:
        thread.join(5)
        srv.close()
