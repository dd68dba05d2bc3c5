"""The ``{fd:NAME}``/``{fd}``/``{address:NAME}``/``{address}`` placeholders of ``exec`` and
``supervise``, expanded for real servers (hypercorn, daphne, uvicorn), and their errors: every
bad placeholder stops the command before it starts. The pure expansion is tested in
tests/restart/test_argv.py.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
        pytest.param("{fd:}", r"\{fd:\} names no socket", id="empty-name"),
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
def test_escaped_placeholders_and_other_braces_reach_the_command_literally(
    verb: str, tmp_path: Path
) -> None:
    """``{{fd}}`` is the literal ``{fd}`` and ``{fd}`` next to it the number; braces that are
    no placeholder (shell, Python, templates) reach the command unchanged."""
    out_file = tmp_path / "argv"
    argv = [sys.executable, "-m", "socket_activation", verb, "-l", "127.0.0.1:0"]
    if verb == "supervise":
        argv += ["--ready", "started", "--restart", "no"]
    script = 'printf "%s\\n" "$@" > "$0"'
    argv += ["--", "sh", "-c", script, str(out_file), "{{fd}}={fd}", "${HOME}", "{'a': 1}"]
    subprocess.run(
        argv,
        capture_output=True,
        timeout=WAIT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        check=False,
    )
    assert out_file.read_text().splitlines() == ["{fd}=3", "${HOME}", "{'a': 1}"]
