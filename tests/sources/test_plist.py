"""The demo's launchd plist (units/io.github.socket-activation.demo.plist) is what it says."""

from __future__ import annotations

import plistlib
from typing import Any

import pytest

from tests.support.paths import ROOT

PLIST = ROOT / "units" / "io.github.socket-activation.demo.plist"


@pytest.fixture
def job() -> dict[str, Any]:
    with PLIST.open("rb") as f:
        loaded = plistlib.load(f)
    assert isinstance(loaded, dict)
    return loaded


def test_the_label_is_the_file_name(job: dict[str, Any]) -> None:
    """launchctl finds a job by its Label; the file is named after it, as launchd expects."""
    assert f"{job['Label']}.plist" == PLIST.name


def test_it_runs_the_demo_on_demand(job: dict[str, Any]) -> None:
    """The job runs `socket-activation demo`, started by a connection rather than at load."""
    assert job["ProgramArguments"] == ["socket-activation", "demo"]
    assert job["RunAtLoad"] is False


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "web",
            {
                "SockType": "stream",
                "SockFamily": "IPv4",
                "SockNodeName": "127.0.0.1",
                "SockServiceName": "8000",
            },
            id="tcp-127.0.0.1-8000",
        ),
        pytest.param(
            "unix",
            {
                "SockType": "stream",
                "SockPathName": "/tmp/socket-activation-demo.sock",
                "SockPathMode": 0o660,
            },
            id="unix-tmp-socket",
        ),
    ],
)
def test_sockets(job: dict[str, Any], name: str, expected: dict[str, object]) -> None:
    """Sockets holds a TCP socket on 127.0.0.1:8000 and a Unix socket, keyed by name."""
    assert job["Sockets"][name] == expected


def test_the_demo_asks_launchd_for_every_socket_key(job: dict[str, Any]) -> None:
    """SOCKET_ACTIVATION_LAUNCHD_NAMES names exactly the keys of Sockets, so none is missed."""
    names = job["EnvironmentVariables"]["SOCKET_ACTIVATION_LAUNCHD_NAMES"].split()
    assert sorted(names) == sorted(job["Sockets"])


def test_the_plist_config_source_reads_it() -> None:
    """The plist source turns it into two named listen specs and the launchd names to ask."""
    from socket_activation.sources import load_config

    config = load_config(plist=PLIST, environ={})
    assert [(spec.name, str(spec.address), spec.socket_mode) for spec in config.listen] == [
        ("web", "127.0.0.1:8000", None),
        ("unix", "/tmp/socket-activation-demo.sock", 0o660),
    ]
    assert config.launchd_names == ("web", "unix")
