"""Fixtures for integration tests: a real, sandboxed systemd user manager.

``user_manager`` (session scope) starts one ``systemd --user`` in private mount, PID and cgroup
namespaces (see usermanager.py) and stops it, removing its cgroups, at the end of the session.
It skips where the machine cannot host it (not root, no unshare, no systemd) and fails instead
under ``CI=true``. ``user_units`` gives each test a unique unit-name prefix and stops the
test's units afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.conftest import require, require_root, require_tool
from tests.integration.net import stop_process
from tests.integration.usermanager import (
    MANAGER_BINARY,
    UserManager,
    cgroup_roots,
    leftover_cgroups,
)


def require_user_manager_sandbox() -> None:
    """Skip (fail under CI) unless a sandboxed user manager can run here."""
    require_root()
    for tool in ("unshare", "nsenter", "setpriv", "systemctl", "systemd-analyze"):
        require_tool(tool)
    require(
        os.access(MANAGER_BINARY, os.X_OK),
        f"{MANAGER_BINARY} is missing (apt-get install systemd)",
    )
    require(
        cgroup_roots() is not None,
        "unsupported cgroup layout (need pure v2, or name=systemd plus unified v2)",
    )


@pytest.fixture(scope="session")
def user_manager() -> Iterator[UserManager]:
    """A running systemd user manager shared by the session (ManagerStartError carries its log)."""
    require_user_manager_sandbox()
    with UserManager.start() as manager:
        yield manager
    stale = [path for path in leftover_cgroups() if path.name in ("init.scope", manager.tag)]
    assert not stale, f"sandbox cleanup left cgroups behind: {stale}"


@pytest.fixture
def user_units(user_manager: UserManager, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unit-name prefix unique to this test (``test_x-7``); name units ``{prefix}-web.socket``.

    Afterwards every loaded ``{prefix}-*`` unit is stopped and its failed state reset.
    """
    prefix = user_manager.unique_name(request.node.name)
    yield prefix
    if user_manager.running:
        user_manager.systemctl("stop", f"{prefix}-*", check=False)
        user_manager.systemctl("reset-failed", f"{prefix}-*", check=False)


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A short temp dir (Unix socket paths must fit in 107 bytes), removed afterwards."""
    path = tempfile.mkdtemp(prefix="sa-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts (append them); each is ended by its own PID afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        stop_process(proc)
