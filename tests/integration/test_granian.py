"""What granian (2.8.9 tested) can take: no fd, no inherited port or path; SO_REUSEPORT.

The README's granian recipe rests on these; benchmarks/servers_reload.py measures its own
SIGHUP reload next to ``supervise`` rollouts.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.test_integrations import (
    BIN,
    PYTHONPATH,
    WAIT,
    Started,
    free_port,
    get_tcp,
)
from tests.integration.test_servers import require_packages

pytestmark = pytest.mark.integration


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
