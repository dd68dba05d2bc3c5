"""``restart_under_load``: counts that can be zero, and counts that are not when it is broken."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from socket_activation.testing import ActivatedServer, LoadResult
from tests.support.paths import TESTS
from tests.testing.apps import HTTP, python

Start = Callable[..., ActivatedServer]
Measure = Callable[..., LoadResult]
RESTART_APP = str(TESTS / "support" / "restart_app.py")


def consistent(result: LoadResult) -> None:
    """The counts add up and the samples are the requests counted."""
    assert result.requests == len(result.samples) > 0
    parts = result.ok + result.refused + result.reset + result.timeouts + result.bad
    assert parts == result.requests
    assert result.failed == result.requests - result.ok
    assert result.max_latency == max(s.latency for s in result.samples)
    assert set(result.during_restarts) <= set(result.samples)


@pytest.mark.parametrize(
    ("supervise", "how"),
    [
        pytest.param(True, "reload", id="supervise-rollouts"),
        pytest.param(False, "restart", id="stop-and-start-on-held-sockets"),
    ],
)
def test_restarts_on_held_sockets_fail_no_request(
    activated_server: Start, restart_under_load: Measure, supervise: bool, how: str
) -> None:
    """Rollouts under supervise, and even cold restarts (the test holds the listening socket,
    as systemd does): every request is answered."""
    server = activated_server(
        [sys.executable, RESTART_APP, "--startup", "0.2"],
        listen=["127.0.0.1:0"],
        supervise=supervise,
    )
    result = restart_under_load(server, clients=4, restarts=3)
    consistent(result)
    assert result.restarts == 3
    assert len(result.restart_seconds) == 3
    assert result.failed == 0, result.summary()
    assert len(result.during_restarts) >= 4, "every client was in flight during a restart"
    assert all(0 < seconds < 30 for seconds in result.restart_seconds)
    assert "0 failed (0 refused, 0 reset, 0 timed out, 0 bad)" in result.summary()
    assert server.starts == (1 if supervise else 4)


def test_a_unix_socket_is_loaded_too(
    activated_server: Start, restart_under_load: Measure, tmp_path: Path
) -> None:
    server = activated_server(python(HTTP), listen=[str(tmp_path / "s.sock")])
    result = restart_under_load(server, clients=2, restarts=1, settle=0.1)
    consistent(result)
    assert result.failed == 0, result.summary()


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        pytest.param("500", "bad", id="server-error"),
        pytest.param("hangup", "reset", id="closed-without-answer"),
        pytest.param("shutdown-on-restart", "refused", id="listening-socket-shut-down"),
    ],
)
def test_failures_are_counted_by_kind(
    activated_server: Start,
    restart_under_load: Measure,
    tmp_path: Path,
    mode: str,
    outcome: str,
) -> None:
    """A server that answers 500, hangs up, or shuts the shared socket down on restart:
    the failures show up, under the right heading."""
    env = dict(os.environ, APP_MODE=mode, APP_MARK=str(tmp_path / "mark"))
    server = activated_server(python(HTTP), listen=["127.0.0.1:0"], env=env)
    result = restart_under_load(server, clients=2, restarts=1, settle=0.2)
    consistent(result)
    counts = {
        "bad": result.bad,
        "reset": result.reset,
        "refused": result.refused,
        "timeout": result.timeouts,
    }
    assert counts[outcome] > 0, result.summary()
    assert result.failed > 0
    if mode != "shutdown-on-restart":
        assert result.ok == 0


def test_bad_arguments_are_refused(activated_server: Start, restart_under_load: Measure) -> None:
    server = activated_server(python(HTTP), listen=["127.0.0.1:0"])
    with pytest.raises(ValueError, match="need clients >= 1, got 0"):
        restart_under_load(server, clients=0)
    with pytest.raises(ValueError, match="how must be 'auto', 'reload' or 'restart', got 'kick'"):
        restart_under_load(server, how="kick")
