"""``socket-activation units --reload``: the service wiring that makes ``systemctl reload`` wait.

Parsed back by our own unit parser and checked by ``systemd-analyze verify`` (systemd 252 here,
which knows no ``Type=notify-reload``: that mode is checked as text and by the protocol tests).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from socket_activation._errors import ConfigError
from socket_activation.config import ServerConfig
from socket_activation.unitfile.parser import parse_unit_text
from socket_activation.unitfile.render import render_units
from tests.conftest import require_tool

CONFIG = ServerConfig.model_validate({"listen": ["127.0.0.1:8080"]})
START = "/usr/bin/socket-activation supervise -- /usr/bin/python3 app.py"


def service_keys(text: str) -> dict[str, list[str]]:
    assignments, warnings = parse_unit_text(text, "web.service")
    assert warnings == []
    out: dict[str, list[str]] = {}
    for entry in assignments:
        if entry.section == "Service":
            out.setdefault(entry.key, []).append(entry.value)
    return out


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("none", {"ExecStart": [START]}),
        (
            "command",
            {
                "Type": ["notify"],
                "ExecReload": ["/usr/bin/socket-activation reload"],
                "ExecStart": [START],
            },
        ),
        ("notify-reload", {"Type": ["notify-reload"], "ExecStart": [START]}),
    ],
)
def test_each_reload_mode_writes_its_service_keys(
    mode: str, expected: dict[str, list[str]]
) -> None:
    files = render_units(
        CONFIG, "web", START, reload=mode, reload_command="/usr/bin/socket-activation reload"
    )
    assert service_keys(files["web.service"]) == expected


def test_a_percent_in_the_reload_command_is_escaped() -> None:
    files = render_units(CONFIG, "web", START, reload="command", reload_command="reload --x=50%")
    assert "ExecReload=reload --x=50%%" in files["web.service"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reload": "sometimes"}, "reload must be one of none, command, notify-reload"),
        ({"reload": "command", "reload_command": " "}, "invalid ExecReload command"),
    ],
)
def test_bad_reload_options_name_the_problem(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render_units(CONFIG, "web", START, **kwargs)


def test_accept_yes_instances_have_nothing_to_reload() -> None:
    config = ServerConfig.model_validate(
        {"listen": [{"address": "127.0.0.1:8080", "accept": True}]}
    )
    with pytest.raises(ConfigError, match="nothing to reload"):
        render_units(config, "web", START, reload="command")


def test_systemd_accepts_the_command_wiring(tmp_path: Path) -> None:
    """systemd-analyze verify: exit 0 and not one complaint about the generated keys."""
    analyze = require_tool("systemd-analyze")
    program = tmp_path / "prog"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    files = render_units(
        CONFIG, "web", f"{program} supervise", reload="command", reload_command=f"{program} reload"
    )
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "web.service")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path) not in done.stderr, done.stderr
