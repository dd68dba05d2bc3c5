"""Accept=yes units render MaxConnections= and read back with it; systemd accepts them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from socket_activation._record import replace
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


def test_every_option_systemd_applies_survives_the_unit_round_trip(tmp_path: Path) -> None:
    """Options set after listen() render as their directives and read back equal."""
    spec = {
        "address": "127.0.0.1:8080",
        "broadcast": True,
        "pass_security": True,
        "pass_packet_info": True,
        "priority": 6,
        "mark": 3,
        "ip_tos": 16,
        "ip_ttl": 9,
        "keep_alive_time_sec": 75.0,
        "keep_alive_interval_sec": 9.0,
        "keep_alive_probes": 4,
        "timestamping": "us",
        "tcp_congestion": "reno",
    }
    config = ServerConfig(listen=[spec])
    files = render_units(config, "opts", "/bin/cat")
    (tmp_path / "opts.socket").write_text(files["opts.socket"])
    (back,) = load_config(unit=tmp_path / "opts.socket", env_prefix=None).listen_specs()
    # DirectoryMode= (unit default 0755) concerns Unix paths only; everything else is equal
    ours = replace(back.bind_options(config), directory_mode=None)
    assert ours == config.listen_specs()[0].bind_options(config)
