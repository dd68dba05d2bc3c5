"""Accept=yes units render MaxConnections= and read back with it; systemd accepts them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from socket_activation.config import ServerConfig
from socket_activation.sources import load_config
from socket_activation.unitfile.render import render_units
from tests.conftest import require_tool


def test_max_connections_survives_the_unit_round_trip(tmp_path: Path) -> None:
    config = ServerConfig(
        listen=[{"address": "127.0.0.1:8080", "accept": True, "max_connections": 5}]
    )
    files = render_units(config, "echo", "/bin/cat")
    assert "MaxConnections=5\n" in files["echo.socket"]
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text)
    (spec,) = load_config(unit=tmp_path / "echo.socket", env_prefix=None).listen_specs()
    assert (spec.accept, spec.max_connections) == (True, 5)
    tool = require_tool("systemd-analyze")
    done = subprocess.run(
        [tool, "verify", "--man=no", str(tmp_path / "echo.socket")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert str(tmp_path / "echo.socket") + ":" not in done.stderr, done.stderr
