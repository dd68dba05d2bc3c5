"""The ``activated_server`` fixture and its handle, with real children on real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from socket_activation import ConfigError, ServerConfig
from socket_activation.testing import (
    ActivatedServer,
    ReloadError,
    ServerExitedError,
    ServerNotReadyError,
)
from tests.support.paths import TESTS
from tests.testing.apps import HTTP, NOTIFY, REPORT, python

Start = Callable[..., ActivatedServer]
RESTART_APP = str(TESTS / "support" / "restart_app.py")


def get(address: tuple[str, int] | str, path: str = "/") -> bytes:
    """One HTTP/1.0 GET; the body."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(address)
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


def wait_for(read: Callable[[], str], text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in (now := read()):
        assert time.monotonic() < deadline, now
        time.sleep(0.02)
    return now


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def gone(pid: int, timeout: float = 5) -> bool:
    """True once *pid* no longer exists (or is a zombie of somebody else)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_sockets_arrive_at_fds_3_on_named_with_the_childs_own_listen_pid(
    activated_server: Start, tmp_path: Path
) -> None:
    """TCP, UDP and a Unix socket, bound by the test at port 0 / a path, are fds 3, 4, 5 of
    the child in order, named by LISTEN_FDNAMES, and LISTEN_PID is the child's own pid."""
    path = str(tmp_path / "s.sock")
    server = activated_server(
        python(REPORT),
        listen=["127.0.0.1:0", "datagram:127.0.0.1:0", path],
        names=["web", "quic", "unix"],
    )
    view = json.loads(server.wait_ready(10).fields["STATUS"])
    port = server.port("web")
    assert port != 0
    assert server.address("web") == ("127.0.0.1", port)
    assert view["listen_pid_is_mine"]
    assert view["names"] == "web:quic:unix"
    assert view["fds"] == [
        [3, ["127.0.0.1", port], True],
        [4, list(server.address("quic")), False],
        [5, path, True],
    ]
    assert [s.kind for s in server.sockets] == ["tcp", "udp", "unix-stream"]
    assert server.url("web") == f"http://127.0.0.1:{port}/"
    assert server.url("web", "/health") == f"http://127.0.0.1:{port}/health"
    assert server.address("unix") == path


def test_a_server_config_and_a_socket_unit_are_bound_like_exec_binds_them(
    activated_server: Start, tmp_path: Path
) -> None:
    """A ServerConfig's listen list, and a .socket unit's Listen*= lines with its
    FileDescriptorName= (exec --unit semantics), become the child's fds in order."""
    config = ServerConfig(listen=[{"address": "[::1]:0", "name": "api"}])
    from_config = activated_server(python(REPORT), config=config)
    view = json.loads(from_config.wait_ready(10).fields["STATUS"])
    assert view["names"] == "api"
    assert from_config.url("api").startswith("http://[::1]:")

    unit = tmp_path / "app.socket"
    unit.write_text(
        f"[Socket]\nListenStream={tmp_path}/a.sock\nListenDatagram=@sa-test-{os.getpid()}\n"
        "FileDescriptorName=app\nSocketMode=0600\n"
    )
    from_unit = activated_server(python(REPORT), unit=unit)
    view = json.loads(from_unit.wait_ready(10).fields["STATUS"])
    assert view["names"] == "app:app"
    assert [s.kind for s in from_unit.sockets] == ["unix-stream", "unix-dgram"]
    assert from_unit.address() == f"{tmp_path}/a.sock"
    assert oct(os.stat(f"{tmp_path}/a.sock").st_mode & 0o777) == "0o600"
    assert from_unit.address("app") == f"{tmp_path}/a.sock"


def test_environment_and_working_directory_are_the_tests_to_choose(
    activated_server: Start, tmp_path: Path
) -> None:
    """env= is what the command starts from (LISTEN_* and NOTIFY_SOCKET are set on top);
    cwd= is its directory, while the test process keeps its own."""
    here = os.getcwd()
    env = {"PATH": os.environ["PATH"], "EXTRA": "yes", "LISTEN_FDS": "9"}
    server = activated_server(python(REPORT), listen=["127.0.0.1:0"], env=env, cwd=tmp_path)
    view = json.loads(server.wait_ready(10).fields["STATUS"])
    assert (view["extra"], view["cwd"], len(view["fds"])) == ("yes", str(tmp_path), 1)
    assert os.getcwd() == here


def test_wait_ready_raises_with_the_tail_of_stderr_when_the_server_exits_first(
    activated_server: Start,
) -> None:
    """An app that fails before READY=1: the error says how it exited and quotes stderr."""
    code = "import sys\nprint('loading settings', file=sys.stderr)\nraise SystemExit('no DB_URL')"
    server = activated_server(python(code), listen=["127.0.0.1:0"])
    with pytest.raises(ServerExitedError, match=r"exited with status 1 before READY=1") as failed:
        server.wait_ready(10)
    assert failed.value.returncode == 1
    assert "loading settings\nno DB_URL" in str(failed.value)
    assert server.returncode == 1
    assert not server.running


def test_wait_ready_times_out_with_the_last_status_and_close_ends_the_server(
    tmp_path: Path,
) -> None:
    """No READY=1 in time: ServerNotReadyError (a TimeoutError) naming the last STATUS=; the
    process is left running, and close() ends it and leaves no fd behind."""
    before = open_fds()
    code = NOTIFY + "send('STATUS=migrating'); print('slow start', file=sys.stderr, flush=True)\n"
    code += "time.sleep(60)"
    server = ActivatedServer.start(python(code), listen=[str(tmp_path / "s.sock")])
    try:
        with pytest.raises(TimeoutError, match=r"sent no READY=1 within 0.5 s") as failed:
            server.wait_ready(0.5)
        assert isinstance(failed.value, ServerNotReadyError)
        assert "its last STATUS= was 'migrating'" in str(failed.value)
        assert "slow start" in failed.value.stderr
        assert server.running
    finally:
        server.close()
    assert gone(server.pid)
    assert not (tmp_path / "s.sock").exists()
    assert open_fds() == before


def test_stop_sends_sigterm_lets_it_drain_and_returns_the_exit_status(
    activated_server: Start,
) -> None:
    """stop(): SIGTERM, the server says STOPPING=1 and exits 0; a server that ignores
    SIGTERM is killed after the timeout (-9)."""
    server = activated_server(python(HTTP), listen=["127.0.0.1:0"])
    server.wait_ready(10)
    assert get(server.address()) == str(server.pid).encode()
    assert server.status == "serving"
    assert server.stop() == 0
    assert [n.fields for n in server.notifications] == [
        {"READY": "1", "STATUS": "serving"},
        {"STOPPING": "1"},
    ]
    stubborn = NOTIFY + "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nsend('READY=1')\n"
    stubborn += "time.sleep(60)"
    server = activated_server(python(stubborn), listen=["127.0.0.1:0"])
    server.wait_ready(10)
    assert server.stop(timeout=0.5) == -signal.SIGKILL


def test_stop_ends_what_the_server_started_too(activated_server: Start) -> None:
    """A child of the server (a worker) does not outlive stop(): the group is ended."""
    code = NOTIFY + (
        "import subprocess\n"
        "worker = subprocess.Popen(['sleep', '60'])\n"
        "send('READY=1\\nSTATUS=%d' % worker.pid)\n"
        "signal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n"
        "time.sleep(60)"
    )
    server = activated_server(python(code), listen=["127.0.0.1:0"])
    worker = int(server.wait_ready(10).fields["STATUS"])
    assert not gone(worker, timeout=0.1)
    assert server.stop() == 0
    assert gone(worker)


def test_restart_keeps_the_sockets_so_a_waiting_client_is_served(
    activated_server: Start,
) -> None:
    """restart() runs a new process on the same sockets; a client that connected while no
    process was running waits in the accept queue and is answered by the new one."""
    server = activated_server(python(HTTP), listen=["127.0.0.1:0"])
    server.wait_ready(10)
    first, address = server.pid, ("127.0.0.1", server.port())
    server.stop()
    with socket.create_connection(address, timeout=10) as waiting:  # nobody serving now
        waiting.sendall(b"GET / HTTP/1.0\r\n\r\n")
        server.spawn()
        server.wait_ready(10)
        assert waiting.recv(4096).endswith(str(server.pid).encode())
    assert server.pid != first
    server.restart()
    assert server.starts == 3
    assert get(address) == str(server.pid).encode()


def test_reload_under_supervise_rolls_out_a_new_generation(activated_server: Start) -> None:
    """supervise=True: reload() returns once supervise reports the new generation serving;
    the old one drained; a generation that fails raises ReloadError and the old keeps
    serving."""
    server = activated_server(
        python(HTTP),
        listen=["127.0.0.1:0"],
        supervise=True,
        supervise_args=["--ready-timeout", "5"],
    )
    server.wait_ready(10)
    first = get(server.address()).decode()
    assert server.status == f"generation 1 (pid {first}) serving"
    note = server.reload()
    assert note.pid == server.pid
    found = re.fullmatch(r"generation 2 \(pid (\d+)\) serving", note.fields["STATUS"])
    assert found, note.fields
    deadline = time.monotonic() + 10  # the old generation may take a last request as it drains
    while (answer := get(server.address()).decode()) != found[1]:
        assert answer == first
        assert time.monotonic() < deadline
    assert f"generation 1 (pid {first}) exited with status 0" in wait_for(
        lambda: server.stderr, "exited with status 0"
    )


def test_a_failed_rollout_raises_and_the_old_generation_keeps_serving(
    activated_server: Start, tmp_path: Path
) -> None:
    """The next generation exits before READY=1: ReloadError with supervise's reason."""
    fault = tmp_path / "fault"
    server = activated_server(
        [sys.executable, RESTART_APP, "--fault-file", str(fault)],
        listen=["127.0.0.1:0"],
        supervise=True,
    )
    server.wait_ready(10)
    serving = get(server.address())
    fault.write_text("exit-before-ready")
    with pytest.raises(ReloadError, match=r"generation 2 \(pid \d+\) failed to start: exited"):
        server.reload()
    assert get(server.address()) == serving
    assert server.reload().fields["STATUS"].startswith("generation 3 ")


def test_reload_without_supervise_is_the_notify_reload_protocol(activated_server: Start) -> None:
    """Type=notify-reload: SIGHUP, RELOADING=1, then READY=1; reload() returns that READY."""
    code = NOTIFY + (
        "n = [0]\n"
        "def hup(*a):\n"
        "    n[0] += 1\n"
        "    send('RELOADING=1')\n"
        "    send('READY=1\\nSTATUS=reloaded %d' % n[0])\n"
        "signal.signal(signal.SIGHUP, hup)\n"
        "send('READY=1\\nSTATUS=started')\n"
        "while True: time.sleep(1)"
    )
    server = activated_server(python(code), listen=["127.0.0.1:0"])
    assert server.reload(10).fields == {"READY": "1", "STATUS": "reloaded 1"}
    assert server.reload(10).fields == {"READY": "1", "STATUS": "reloaded 2"}
    assert server.status == "reloaded 2"


def test_a_server_that_ignores_the_reload_raises_naming_what_it_waited_for(
    activated_server: Start,
) -> None:
    """SIGHUP ignored: no RELOADING=1 within the timeout."""
    code = NOTIFY + "signal.signal(signal.SIGHUP, signal.SIG_IGN)\nsend('READY=1')\ntime.sleep(60)"
    server = activated_server(python(code), listen=["127.0.0.1:0"])
    with pytest.raises(ServerNotReadyError, match=r"sent no RELOADING=1 within 0\.3 s"):
        server.reload(0.3)


def test_bad_arguments_are_refused_naming_them(activated_server: Start) -> None:
    """One socket source at a time, a valid address, a known socket name, a TCP url."""
    with pytest.raises(ValueError, match="give exactly one of listen, config, unit, got listen"):
        activated_server(["true"], listen=["127.0.0.1:0"], config=ServerConfig())
    with pytest.raises(ConfigError, match="nowhere:port"):
        activated_server(["true"], listen=["nowhere:port"])
    with pytest.raises(ValueError, match="2 names for 1 sockets"):
        activated_server(["true"], listen=["127.0.0.1:0"], names=["a", "b"])
    with pytest.raises(ValueError, match="invalid fd name 'a:b'"):
        activated_server(["true"], listen=["127.0.0.1:0"], names=["a:b"])
    server = activated_server(python(REPORT), listen=["@sa-test-x-" + str(os.getpid())])
    with pytest.raises(LookupError, match=r"no socket named 'web' \(have: 'unknown'\)"):
        server.address("web")
    with pytest.raises(ValueError, match="is a Unix socket: it has no URL"):
        server.url()
    assert server.address() == f"\0sa-test-x-{os.getpid()}"


def test_what_a_server_handed_over_to_is_ended_after_it_exited() -> None:
    """A server that starts its successor and exits (an in-place upgrade): wait() reaps it,
    and close() still ends the successor, left in the group the plugin owns."""
    code = NOTIFY + (
        "import subprocess\n"
        "successor = subprocess.Popen(['sleep', '60'])\n"
        "send('READY=1\\nSTATUS=%d' % successor.pid)\n"
        "os._exit(0)"
    )
    server = ActivatedServer.start(python(code), listen=["127.0.0.1:0"])
    try:
        successor = int(server.wait_ready(10).fields["STATUS"])
        assert server.wait(10) == 0
        assert not gone(successor, timeout=0.1)
    finally:
        server.close()
    assert gone(successor)
