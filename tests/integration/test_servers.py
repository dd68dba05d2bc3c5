"""More servers end to end: aiohttp, tornado, waitress, Twisted, daphne, trio, anyio.

Each integration serves real HTTP requests on a TCP and on a Unix socket that the real
``systemd-socket-activate`` passed, and goes through five ``supervise`` rollouts (SIGHUP)
under a bounded client loop with no failed request; the Django and Flask recipes are served
the same way. The app is tests/integration/apps/serve_more.py. Next door: test_placeholders.py
(``exec``/``supervise`` placeholders with real servers), test_granian.py (what granian can
take), test_server_backlogs.py (backlogs kept, in process).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require, require_tool
from tests.integration.test_integrations import (
    BIN,
    PYTHONPATH,
    WAIT,
    Started,
    activate,
    free_port,
    get_tcp,
    serves_an_inherited_unix_socket,
)
from tests.support.load import Load

pytestmark = pytest.mark.integration

SERVE_MORE = str(Path(__file__).with_name("apps") / "serve_more.py")
ROLLOUTS = 5

# server name (serve_more.py's argument) -> the packages it needs
SERVERS: dict[str, tuple[str, ...]] = {
    "aiohttp": ("aiohttp",),
    "tornado": ("tornado",),
    "jupyter-style": ("tornado",),
    "waitress": ("waitress",),
    "twisted": ("twisted",),
    "daphne": ("daphne",),
    "trio": ("trio",),
    "anyio-asyncio": ("anyio",),
    "anyio-trio": ("anyio", "trio"),
}

# the Django and Flask recipes: served through the sockets like the servers (not rolled over:
# the rollouts are the servers' and are tested above)
RECIPES: dict[str, tuple[str, ...]] = {
    "django-asgi": ("django", "daphne"),
    "django-wsgi": ("django", "waitress"),
    "flask": ("flask", "waitress"),
}


def require_packages(*packages: str) -> None:
    for package in packages:
        require(
            importlib.util.find_spec(package) is not None,
            f"{package} is not installed (pip install socket-activation[test])",
        )


def server_command(name: str) -> list[str]:
    require_packages(*{**SERVERS, **RECIPES}[name])
    return [sys.executable, SERVE_MORE, name]


@pytest.fixture
def started() -> Iterator[Started]:
    procs = Started()
    yield procs
    procs.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))  # Unix paths: 107 bytes at most
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_log(proc: subprocess.Popen[bytes], log: Path, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text())
        if match:
            return match
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"log never matched {pattern!r}:\n{log.read_text()}")


# -- under systemd-socket-activate -------------------------------------------------------------


@pytest.mark.parametrize("server", [*SERVERS, *RECIPES])
def test_server_answers_on_the_tcp_socket_systemd_socket_activate_passed(
    server: str, started: Started, tmp_path: Path
) -> None:
    """Requests to the activated port are answered by the server exec'd on it, from its own
    pid (had it bound a socket of its own, they would wait on the activator's queue)."""
    command = server_command(server)
    port = free_port()
    activate(started, f"127.0.0.1:{port}", command, tmp_path / "log")
    pids = set()
    for _ in range(3):
        status, body = get_tcp(port)
        assert (status, body.isdigit()) == (200, True), (body, (tmp_path / "log").read_text())
        pids.add(body)
    assert len(pids) == 1, pids


@pytest.mark.parametrize("server", [*SERVERS, *RECIPES])
def test_server_answers_on_the_unix_socket_systemd_socket_activate_passed(
    server: str, started: Started, short_dir: Path
) -> None:
    """The same servers serve an inherited Unix stream socket, and leave its file in place."""
    serves_an_inherited_unix_socket(started, server_command(server), short_dir)


def test_twisted_own_systemd_endpoint_drops_the_fd_without_listen_fdnames_and_ours_serves(
    started: Started, tmp_path: Path
) -> None:
    """systemd-socket-activate sets LISTEN_FDS but no LISTEN_FDNAMES without --fdname:
    Twisted's ``systemd:`` endpoint then sees no fd at all (IndexError on index=0), where the
    integration (which also imports Twisted's endpoints, through daphne) serves."""
    require_packages("twisted")
    port = free_port()
    probe = (
        "import os; from twisted.internet import endpoints, reactor; "
        "print('LISTEN_FDS' in os.environ, os.environ.get('LISTEN_FDNAMES'), flush=True); "
        "endpoints.serverFromString(reactor, 'systemd:domain=INET:index=0')"
    )
    log = tmp_path / "twisted.log"
    tool = require_tool("systemd-socket-activate")
    proc = started.start([tool, "-l", f"127.0.0.1:{port}", sys.executable, "-c", probe], log)
    deadline = time.monotonic() + WAIT
    while True:  # the first connection makes the activator exec the probe
        try:
            socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    assert proc.wait(WAIT) != 0
    text = log.read_text()
    assert "False None" in text, text  # LISTEN_FDS gone once Twisted's endpoints module loaded
    assert "IndexError: list index out of range" in text, text

    ours = free_port()
    activate(started, f"127.0.0.1:{ours}", server_command("daphne"), tmp_path / "daphne.log")
    status, body = get_tcp(ours)
    assert (status, body.isdigit()) == (200, True), (tmp_path / "daphne.log").read_text()


def test_daphne_fd_serves_an_activated_tcp_socket(started: Started, tmp_path: Path) -> None:
    """``daphne --fd 3`` (no helper) serves the TCP socket systemd-socket-activate passed."""
    require_packages("daphne")
    port = free_port()
    activate(
        started,
        f"127.0.0.1:{port}",
        [str(BIN / "daphne"), "--fd", "3", "asgi_app:app"],
        tmp_path / "log",
    )
    status, body = get_tcp(port)
    assert (status, body.isdigit()) == (200, True), (tmp_path / "log").read_text()


def test_daphne_fd_takes_a_unix_socket_for_a_tcp_one_and_resets_every_request(
    started: Started, short_dir: Path
) -> None:
    """``daphne --fd 3`` adopts fd 3 as AF_INET whatever it is: on a Unix socket it logs a
    TCP address and every connection is reset (the daphne helper adopts it as AF_UNIX)."""
    require_packages("daphne")
    path = str(short_dir / "d.sock")
    log = short_dir / "log"
    activate(started, path, [str(BIN / "daphne"), "--fd", "3", "asgi_app:app"], log)
    curl = require_tool("curl")
    deadline = time.monotonic() + WAIT
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    out = subprocess.run(
        [curl, "-sS", "-m", str(WAIT), "--unix-socket", path, "http://localhost/"],
        capture_output=True,
        text=True,
        timeout=WAIT + 5,
        check=False,
    )
    assert out.returncode == 56, out  # curl: failure receiving network data
    assert "reset by peer" in out.stderr, out.stderr
    assert "Listening on TCP address" in log.read_text(), log.read_text()


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        pytest.param(
            "twisted",
            {"mode": "0o666", "exists": False, "connect": "refused"},
            id="twisted-chmods-shuts-down-and-unlinks",
        ),
        pytest.param(
            "ours", {"mode": "0o600", "exists": True, "connect": "ok"}, id="ours-leaves-it-alone"
        ),
    ],
)
def test_twisted_adopted_unix_port_versus_the_integrations(
    port: str, expected: dict[str, object], short_dir: Path
) -> None:
    """Twisted's adopted Unix port makes the file 0666, and on stopListening() shuts the
    shared socket down (a connection to it is refused although this process still holds it,
    as the next generation would) and unlinks the file. The integration's port does none of
    that."""
    require_packages("twisted")
    probe = str(Path(__file__).with_name("apps") / "twisted_unix_probe.py")
    argv = [sys.executable, "-m", "socket_activation", "exec", "-l", str(short_dir / "t.sock")]
    out = subprocess.run(
        [*argv, "--", sys.executable, probe, port],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == expected


# -- rollouts under supervise ------------------------------------------------------------------


@pytest.mark.parametrize("server", list(SERVERS))
def test_server_rolls_over_five_times_under_supervise_with_no_failed_request(
    server: str, started: Started, tmp_path: Path
) -> None:
    """Five SIGHUPs: each new generation says READY=1 (the integration sends it), the old one
    drains on SIGTERM and exits; a bounded client loop sees only answers, and the answers
    after the last rollout come from the last generation only."""
    command = server_command(server)
    port = free_port()
    log = tmp_path / "log"
    argv = [sys.executable, "-m", "socket_activation", "supervise", "-l", f"127.0.0.1:{port}"]
    supervise = started.start([*argv, "--drain-timeout", "10", "--", *command], log)
    wait_log(supervise, log, r"generation 1 \(pid \d+\) is ready")
    with Load(("127.0.0.1", port), clients=4) as load:  # the default cap: 200,000
        time.sleep(0.3)
        began = time.monotonic()
        rollouts: list[float] = []
        for number in range(2, ROLLOUTS + 2):
            rollouts.append(round(time.monotonic() - began, 3))
            os.kill(supervise.pid, signal.SIGHUP)
            old = wait_log(
                supervise,
                log,
                rf"generation {number} \(pid (\d+)\) is ready; "
                rf"generation {number - 1} \(pid (\d+)\) is draining",
            )
            wait_log(supervise, log, rf"generation {number - 1} \(pid {old.group(2)}\) (exited)")
        last = int(old.group(1))
        settled = time.monotonic()
        while time.monotonic() < settled + WAIT:  # until the last generation answered a few
            if sum(s.start > settled for s in list(load.samples)) >= 20:
                break
            time.sleep(0.05)
    failed = [(round(s.start - began, 3), round(s.latency, 3), s.outcome) for s in load.samples]
    failed = [f for f in failed if f[2] != "ok"]
    assert load.failures() == {}, f"{failed} (rollouts at {rollouts})\n{log.read_text()}"
    pids = {s.pid for s in load.samples}
    assert len(pids) >= 2, f"answers came from {pids} only"
    assert {s.pid for s in load.samples if s.start > settled} == {last}
    assert not re.search(r"was killed", log.read_text()), log.read_text()
    assert started.stop(supervise) in (0, 128 + signal.SIGTERM), log.read_text()
