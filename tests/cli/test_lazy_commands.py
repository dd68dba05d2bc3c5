"""A command line naming a command imports only that command's module (start-up cost)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from socket_activation.restart.spawn import spawn_with_sockets

ROOT = Path(__file__).parents[2]

PROBE = """
import sys
from socket_activation.cli import build_parser
parser = build_parser("supervise")
args = parser.parse_args(["supervise", "--", "true"])
loaded = sorted(m for m in sys.modules if m.startswith("socket_activation.cli."))
print(args.func.__module__, loaded)
"""


def test_naming_a_command_imports_only_its_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split(maxsplit=1)
    assert out[0] == "socket_activation.cli.supervise"
    loaded = eval(out[1])  # noqa: S307 - our own probe's printed list
    assert "socket_activation.cli.supervise" in loaded
    assert not {"socket_activation.cli.demo", "socket_activation.cli.units"} & set(loaded)


def test_no_command_or_an_unknown_one_still_lists_every_command() -> None:
    from socket_activation.cli import COMMANDS, build_parser

    for only in (None, "nonsense"):
        help_text = build_parser(only).format_help()
        assert all(name in help_text for name in COMMANDS)


ACTIVATED = """
import sys
from socket_activation.cli import main
status = main(["supervise", "--ready", "started", "--", "true"])
import json
import os
os.write(int(os.environ["OUT_FD"]), f"{status} {'pydantic' in sys.modules}".encode())
"""


def test_activated_supervise_with_nothing_configured_does_not_import_pydantic() -> None:
    """An on-demand service pays for supervise's start-up on every first request."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCKET_ACTIVATION_")}
        read, write = os.pipe()
        try:
            pid = spawn_with_sockets(
                [sys.executable, "-c", ACTIVATED], [listener.fileno()], ["web"],
                dict(env, PYTHONPATH=str(ROOT / "src"), OUT_FD=str(write)), keep_fds=[write],
            )  # fmt: skip
        finally:
            os.close(write)
        with os.fdopen(read) as out:
            os.waitpid(pid, 0)
            text = out.read()
    assert text.split() == ["0", "False"], text


TRIMMED = """
import json, sys
import socket_activation.cli.supervise
print(json.dumps(sorted(sys.modules)))
"""


def test_supervise_imports_http_server_and_ctypes_only_for_the_options_that_need_them() -> None:
    """http.server is for --health, ctypes (inotify) for --watch; secrets, tempfile and shutil
    are not needed for the abstract readiness socket."""
    out = subprocess.run(
        [sys.executable, "-c", TRIMMED], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "socket_activation.restart.supervisor" in loaded
    unneeded = {"http.server", "ctypes", "secrets", "tempfile", "shutil"}
    unneeded |= {"socket_activation.restart.handoff", "socket_activation.restart.watch"}
    assert not unneeded & loaded, unneeded & loaded
