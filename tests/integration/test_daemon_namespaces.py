"""booted() and is_mq() against python-systemd on real mounts, in throw-away namespaces.

sd_booted() looks at ``/run/systemd/system/`` and sd_is_mq() at ``/dev/mqueue``: to see every
branch (present, a symlink, a file, unreadable; a real POSIX message queue with and without its
filesystem mounted) the child (tests/support/daemon_namespace_child.py) runs as root under
``unshare --mount --ipc --propagation private``, so its mounts and queues are its own and vanish
with it. Both libraries must agree in every state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import require, require_root, require_tool
from tests.support.paths import ROOT, TESTS

CHILD = TESTS / "support" / "daemon_namespace_child.py"
pytestmark = pytest.mark.integration


def run_child(what: str) -> dict[str, Any]:
    require_root()
    unshare = require_tool("unshare")
    require_tool("mount")  # the child mounts tmpfs and mqueue in its own namespace
    try:
        import systemd.daemon  # noqa: F401
    except ImportError:
        require(False, "systemd-python (libsystemd's binding, the oracle) is not installed")
    done = subprocess.run(
        [unshare, "--mount", "--ipc", "--propagation", "private", sys.executable, str(CHILD), what],
        env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    require("unshare failed" not in done.stderr, f"cannot make namespaces here: {done.stderr}")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


BOOTED = {
    "absent": ["returned", False],
    "directory": ["returned", True],
    "symlink-to-directory": ["returned", True],
    "dangling-symlink": ["returned", False],
    "a-file": ["raised", "NotADirectoryError", 20, None],
    "unreadable-as-nobody": ["raised", "PermissionError", 13, None],
}


def test_booted_agrees_with_libsystemd_in_every_state() -> None:
    """/run/systemd/system/ absent, a directory, a symlink, dangling, a file, unreadable."""
    found = run_child("booted")
    for case, expected in BOOTED.items():
        both = {"systemd.daemon": expected, "socket_activation.daemon": expected}
        assert found[case] == both, case


def test_is_mq_agrees_with_libsystemd_on_real_queues() -> None:
    """A real queue, with and without /dev/mqueue; its own, another and missing names."""
    found = run_child("mq")
    assert found["queue"]["systemd.daemon"] == ["returned", True]
    assert found["queue-its-path"]["systemd.daemon"] == ["returned", True]
    assert found["queue-other-queue-path"]["systemd.daemon"] == ["returned", False]
    for case, answers in found.items():
        assert answers["socket_activation.daemon"] == answers["systemd.daemon"], case
