"""What importing the package costs: nothing heavy is loaded until it is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["asyncio", "pydantic", "tomllib", "plistlib", "ctypes", "importlib.metadata", "typing"]


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running *code*."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize("module", HEAVY)
def test_import_loads_no_heavy_module(module: str) -> None:
    """`import socket_activation` loads no asyncio, config-source library, ctypes or typing."""
    baseline = loaded_after("")
    after = loaded_after("import socket_activation")
    assert module not in after - baseline


def test_activated_path_stays_light() -> None:
    """Reading LISTEN_FDS and wrapping a socket loads no pydantic, asyncio or dataclasses."""
    after = loaded_after("from socket_activation import systemd_activation\nsystemd_activation()")
    assert not {"pydantic", "asyncio", "dataclasses", "tomllib", "ctypes"} & after


def test_config_loads_pydantic_only_when_used() -> None:
    """ServerConfig is reachable from the top level and brings pydantic on first use."""
    after = loaded_after("import socket_activation\nsocket_activation.ServerConfig()")
    assert "pydantic" in after
    assert "asyncio" not in after


def test_resolve_without_config_under_activation_needs_no_pydantic() -> None:
    """resolve() with sockets passed and no config serves them without building a config."""
    code = (
        "import os, socket\n"
        "s = socket.create_server(('127.0.0.1', 0))\n"
        "os.dup2(s.fileno(), 3)\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
        "from socket_activation import resolve\n"
        "assert [r.source for r in resolve()] == ['systemd']\n"
    )
    after = loaded_after(code)
    assert "socket_activation.systemd.activation" in after
    assert "pydantic" not in after
    assert not {"dataclasses", "typing"} & after  # ListenAddress is a record, not a dataclass


def test_the_demo_on_demand_imports_no_dataclasses_or_typing() -> None:
    """`socket-activation demo --exit-idle-time` is an on-demand service's start-up: beyond
    argparse and http.server (which the bare app has too) nothing costly."""
    after = loaded_after("import socket_activation.cli.demo, socket_activation.integrations._idle")
    assert not {"dataclasses", "typing", "pydantic", "asyncio", "tomllib"} & after
