"""A command line naming a command imports only that command's module (start-up cost)."""

from __future__ import annotations

import subprocess
import sys

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
