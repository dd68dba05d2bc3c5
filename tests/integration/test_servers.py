"""More servers end to end: aiohttp, tornado, waitress, Twisted, daphne, trio, anyio; and the
``{fd:NAME}``/``{fd}``/``{address:NAME}`` placeholders of ``exec`` and ``supervise``.

Each integration serves real HTTP requests on a TCP and on a Unix socket that the real
``systemd-socket-activate`` passed, and goes through five ``supervise`` rollouts (SIGHUP)
under a bounded client loop with no failed request. The app is tests/integration/apps/
serve_more.py. The placeholders are expanded for real servers (hypercorn, daphne, uvicorn)
started by ``exec`` and by ``supervise``.
"""

from __future__ import annotations

import asyncio
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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation._resolve import Resolution, ResolvedSocket
from tests.conftest import require, require_tool
from tests.integration.test_integrations import (
    BIN,
    PYTHONPATH,
    WAIT,
    Started,
    activate,
    free_port,
    get_tcp,
    get_unix,
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
    command = server_command(server)
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
    with Load(("127.0.0.1", port), clients=4, max_requests=40_000) as load:
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


# -- placeholders through exec and supervise ---------------------------------------------------


def get_with_host(port: int, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", "/", headers={"Host": host})
        return conn.getresponse().status
    finally:
        conn.close()


def serve_through(
    verb: str, listen: list[str], command: list[str], started: Started, log: Path
) -> subprocess.Popen[bytes]:
    """``socket-activation VERB --listen ... -- COMMAND`` (supervise: ready once started)."""
    argv = [sys.executable, "-m", "socket_activation", verb, *listen]
    if verb == "supervise":
        argv += ["--ready", "started"]
    return started.start([*argv, "--", *command], log)


PLACEHOLDER_ROWS = [
    pytest.param(
        "hypercorn", ["--bind", "fd://{fd:api}", "asgi_app:app"], "api", id="hypercorn-fd-name"
    ),
    pytest.param("daphne", ["--fd", "{fd:api}", "asgi_app:app"], "api", id="daphne-fd-name"),
    pytest.param("uvicorn", ["--fd", "{fd}", "asgi_app:app"], None, id="uvicorn-fd-only-one"),
]


@pytest.mark.parametrize("verb", ["exec", "supervise"])
@pytest.mark.parametrize(("program", "args", "name"), PLACEHOLDER_ROWS)
def test_fd_placeholder_gives_a_real_server_the_fd_of_the_named_socket(  # noqa: PLR0917
    verb: str,
    program: str,
    args: list[str],
    name: str | None,
    started: Started,
    tmp_path: Path,
) -> None:
    """With two sockets ``web`` (fd 3) and ``api`` (fd 4), ``{fd:api}`` is 4: the server
    answers on api's port. ``{fd}`` with one socket is 3."""
    require_packages(program)
    web, api = free_port(), free_port()
    if name is None:
        listen, served = ["-l", f"127.0.0.1:{web}", "--fdname", "web"], web
    else:
        listen = ["-l", f"127.0.0.1:{web}", "-l", f"127.0.0.1:{api}", "--fdname", "web:api"]
        served = api
    serve_through(verb, listen, [str(BIN / program), *args], started, tmp_path / "log")
    status, body = get_tcp(served)
    assert (status, body.isdigit()) == (200, True), (tmp_path / "log").read_text()


@pytest.mark.parametrize("verb", ["exec", "supervise"])
@pytest.mark.parametrize("form", ["{address:web}", "{address}"])
def test_address_placeholder_gives_a_real_server_the_resolved_address(
    verb: str, form: str, started: Started, tmp_path: Path
) -> None:
    """``hypercorn --server-name {address:web}`` (or ``{address}``, the only socket's)
    answers requests for that address and refuses others: it became ``127.0.0.1:PORT``."""
    require_packages("hypercorn")
    port = free_port()
    command = [
        str(BIN / "hypercorn"),
        "--bind",
        "fd://{fd:web}",
        "--server-name",
        form,
        "asgi_app:app",
    ]
    listen = ["-l", f"127.0.0.1:{port}", "--fdname", "web"]
    serve_through(verb, listen, command, started, tmp_path / "log")
    get_tcp(port)  # waits until it serves
    assert get_with_host(port, f"127.0.0.1:{port}") == 200
    assert get_with_host(port, "example.invalid") != 200


@pytest.mark.parametrize("verb", ["exec", "supervise"])
@pytest.mark.parametrize(
    ("arg", "message"),
    [
        pytest.param("{fd:nope}", r"no socket named 'nope' for \{fd:nope\}", id="unknown-name"),
        pytest.param("{address:db}", r"no socket named 'db'", id="unknown-address"),
        pytest.param("{port}", r"unknown placeholder \{port\}", id="unknown-field"),
        pytest.param("${HOME}", r"write '\{\{' for a literal brace", id="unescaped-brace"),
    ],
)
def test_a_bad_placeholder_is_an_error_before_the_command_starts(
    verb: str, arg: str, message: str, tmp_path: Path
) -> None:
    """Exit 65 with the message naming the argument; the command never ran."""
    marker = tmp_path / "ran"
    argv = [sys.executable, "-m", "socket_activation", verb, "-l", "127.0.0.1:0"]
    argv += ["--fdname", "web", "--", "sh", "-c", f"touch {marker}", arg]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=WAIT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        check=False,
    )
    assert out.returncode == 65, out
    assert re.search(message, out.stderr), out.stderr
    assert repr(arg) in out.stderr
    assert not marker.exists()


@pytest.mark.parametrize("verb", ["exec", "supervise"])
def test_escaped_braces_reach_the_command_as_single_braces(verb: str, tmp_path: Path) -> None:
    """``{{fd}}`` is the literal ``{fd}``; ``{fd}`` next to it is the number."""
    out_file = tmp_path / "argv"
    argv = [sys.executable, "-m", "socket_activation", verb, "-l", "127.0.0.1:0"]
    if verb == "supervise":
        argv += ["--ready", "started", "--restart", "no"]
    script = 'printf "%s\\n" "$@" > "$0"'
    argv += ["--", "sh", "-c", script, str(out_file), "{{fd}}={fd}", "{{x}}"]
    subprocess.run(
        argv,
        capture_output=True,
        timeout=WAIT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        check=False,
    )
    assert out_file.read_text().splitlines() == ["{fd}=3", "{x}"]


# -- granian: what it can take -----------------------------------------------------------------


def test_granian_has_no_fd_option() -> None:
    """granian (2.8.9 tested) takes no fd: ``--fd`` is an unknown option."""
    require_packages("granian")
    out = subprocess.run(
        [str(BIN / "granian"), "--fd", "3", "asgi_app:app"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert out.returncode == 2, out
    assert "No such option '--fd'" in out.stderr, out.stderr


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_granian_cannot_serve_the_socket_systemd_socket_activate_passed(
    where: str, started: Started, short_dir: Path
) -> None:
    """Given the activated port (``--port``) or path (``--uds``), granian binds its own socket
    and fails with EADDRINUSE: it never serves the inherited one."""
    require_packages("granian")
    log = short_dir / "log"
    if where == "tcp":
        port = free_port()
        address, bind = f"127.0.0.1:{port}", ["--host", "127.0.0.1", "--port", str(port)]
    else:
        address = str(short_dir / "g.sock")
        bind = ["--uds", address]
    command = [str(BIN / "granian"), "--interface", "asgi", *bind, "asgi_app:app"]
    tool = require_tool("systemd-socket-activate")
    argv = [tool, "-E", f"PYTHONPATH={PYTHONPATH}", "-l", address, *command]
    proc = started.start(argv, log)
    deadline = time.monotonic() + WAIT
    family = socket.AF_INET if where == "tcp" else socket.AF_UNIX
    target: tuple[str, int] | str = ("127.0.0.1", port) if where == "tcp" else address
    while True:  # the first connection makes the activator exec granian
        try:
            with socket.socket(family) as client:
                client.settimeout(WAIT)
                client.connect(target)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    assert proc.wait(WAIT) != 0
    assert "Address already in use (os error 98)" in log.read_text(), log.read_text()


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


def test_granian_binds_with_so_reuseport_so_two_share_a_port(
    started: Started, tmp_path: Path
) -> None:
    """Two granians on one port both start and both answer: it sets SO_REUSEPORT."""
    require_packages("granian")
    port = free_port()
    command = [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "asgi_app:app"]
    first = started.start(command, tmp_path / "one.log")
    get_tcp(port)  # the first one serves
    second = started.start(command, tmp_path / "two.log")
    pids: set[bytes] = set()
    deadline = time.monotonic() + WAIT
    while len(pids) < 2 and time.monotonic() < deadline:
        assert second.poll() is None, (tmp_path / "two.log").read_text()
        pids.add(get_tcp(port)[1])
        time.sleep(0.02)
    assert first.poll() is None
    assert len(pids) == 2, pids


# -- backlogs, in process ----------------------------------------------------------------------


def accept_queue_limit(sock: socket.socket) -> int:
    """The listen() backlog Linux reports for a TCP listener (tcp_info.tcpi_sacked)."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
    return int(struct.unpack("8B6I", raw)[13])


def resolution_of(sock: socket.socket) -> Resolution:
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
        sock.setblocking(False)
        yield sock


def _aiohttp_sites(sock: socket.socket, ours: bool) -> int:
    from aiohttp import web

    from socket_activation.integrations.aiohttp import start_sites

    async def main() -> int:
        runner = web.AppRunner(web.Application())
        await runner.setup()
        if ours:
            await start_sites(runner, resolution=resolution_of(sock))
        else:
            await web.SockSite(runner, sock).start()
        limit = accept_queue_limit(sock)
        await runner.cleanup()
        return limit

    return asyncio.run(main())


def _waitress_server(sock: socket.socket, ours: bool) -> int:
    from waitress import create_server  # type: ignore[import-untyped]

    from socket_activation.integrations.waitress import make_server
    from tests.integration.apps.wsgi_app import app

    server = (
        make_server(app, resolution=resolution_of(sock))
        if ours
        else create_server(app, sockets=[sock])
    )
    limit = accept_queue_limit(sock)
    server.task_dispatcher.shutdown()
    server.close()  # its trigger pipe, and the socket (the fixture's close is then a no-op)
    return limit


def _tornado_server(sock: socket.socket, ours: bool) -> int:
    from socket_activation.integrations.tornado import make_server

    async def main() -> int:
        server = make_server(lambda request: None, resolution=resolution_of(sock))
        limit = accept_queue_limit(sock)
        for handler in server._handlers.values():  # unregister without closing the socket
            handler()
        return limit

    return asyncio.run(main())


def _trio_listeners(sock: socket.socket, ours: bool) -> int:
    import trio

    from socket_activation.integrations.trio import open_listeners

    async def main() -> int:
        open_listeners(resolution=resolution_of(sock))
        return accept_queue_limit(sock)

    return trio.run(main)


def _anyio_listeners(sock: socket.socket, ours: bool) -> int:
    import anyio

    from socket_activation.integrations.anyio import open_listeners

    async def main() -> int:
        await open_listeners(resolution=resolution_of(sock))
        return accept_queue_limit(sock)

    return anyio.run(main)


BACKLOG_ROWS = [
    pytest.param(_aiohttp_sites, True, 37, ("aiohttp",), id="aiohttp-start_sites"),
    pytest.param(_aiohttp_sites, False, 128, ("aiohttp",), id="aiohttp-plain-SockSite-shrinks"),
    pytest.param(_waitress_server, True, 37, ("waitress",), id="waitress-make_server"),
    pytest.param(
        _waitress_server, False, 1024, ("waitress",), id="waitress-plain-sockets=-changes"
    ),
    pytest.param(_tornado_server, True, 37, ("tornado",), id="tornado-add_sockets"),
    pytest.param(_trio_listeners, True, 37, ("trio",), id="trio-open_listeners"),
    pytest.param(_anyio_listeners, True, 37, ("anyio",), id="anyio-open_listeners"),
]


@pytest.mark.parametrize(("build", "ours", "expected", "packages"), BACKLOG_ROWS)
def test_the_sockets_backlog_is_kept_where_the_plain_server_changes_it(
    build: Callable[[socket.socket, bool], int],
    ours: bool,
    expected: int,
    packages: tuple[str, ...],
    listener_37: socket.socket,
) -> None:
    """A socket listening with backlog 37 (systemd's Backlog=) still has 37 once the helper
    serves it; plain SockSite and waitress call listen() again with their own defaults."""
    require_packages(*packages)
    assert build(listener_37, ours) == expected
