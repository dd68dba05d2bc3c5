"""A unit named on the search path loads with its drop-ins from every directory, as systemd's.

A private user-manager search path ($XDG_CONFIG_HOME, $XDG_RUNTIME_DIR, $XDG_DATA_HOME under a
temporary directory) holds the unit and drop-ins in several directories: the unit's own
``NAME.d``, the template's, the ``-`` prefix's, the type's ``socket.d``, names that hide others,
a ``/dev/null`` mask. ``systemd-analyze --user verify NAME`` is the oracle: the drop-in files it
applies (in order), the ports and options, against the library's ``load_config(unit=NAME)``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from socket_activation.sources import load_config
from socket_activation.unitfile.search import dropin_files, unit_search_path
from tests.conftest import require_tool
from tests.support.unitcompare import systemd_address

# (directory under the root, file, text); directories: config, runtime, data (priority order)
TREES: dict[str, tuple[str, list[tuple[str, str, str | None]]]] = {
    "own-prefix-type-and-hidden": (
        "web-api.socket",
        [
            ("data", "web-api.socket", "[Socket]\nListenStream=/tmp/sp-a.sock\nBacklog=5\n"),
            ("config", "web-api.socket.d/10-a.conf", "[Socket]\nBacklog=10\n"),
            ("runtime", "web-api.socket.d/10-a.conf", "[Socket]\nBacklog=99\n"),
            ("runtime", "web-api.socket.d/15-b.conf", "[Socket]\nListenStream=/tmp/sp-b.sock\n"),
            ("data", "web-.socket.d/20-p.conf", "[Socket]\nListenStream=/tmp/sp-p.sock\n"),
            ("data", "socket.d/30-t.conf", "[Socket]\nSocketMode=0600\n"),
        ],
    ),
    "instance-and-template": (
        "app-x@blue.socket",
        [
            ("data", "app-x@.socket", "[Socket]\nListenStream=/tmp/sp-%i.sock\n"),
            ("data", "app-x@.socket.d/10-a.conf", "[Socket]\nBacklog=7\n"),
            ("data", "app-x@blue.socket.d/10-a.conf", "[Socket]\nBacklog=8\n"),
            ("config", "app-x@.socket.d/20-b.conf", "[Socket]\nFileDescriptorName=%i\n"),
            ("runtime", "app-@blue.socket.d/30-c.conf", "[Socket]\nListenStream=/tmp/sp-c.sock\n"),
        ],
    ),
    "masked-drop-in-and-reset": (
        "db.socket",
        [
            ("config", "db.socket", "[Socket]\nListenStream=/tmp/sp-db.sock\n"),
            ("config", "db.socket.d/10-a.conf", None),  # a link to /dev/null
            ("data", "db.socket.d/10-a.conf", "[Socket]\nListenStream=/tmp/sp-no.sock\n"),
            ("data", "db.socket.d/20-b.conf", "[Socket]\nListenStream=\nListenStream=/tmp/sp-x\n"),
        ],
    ),
}


def _environ(root: Path) -> dict[str, str]:
    return {
        "HOME": str(root),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_RUNTIME_DIR": str(root / "runtime"),
        "XDG_DATA_HOME": str(root / "data"),
    }


def _build(root: Path, files: list[tuple[str, str, str | None]]) -> None:
    (root / "runtime").mkdir(mode=0o700)
    for where, rel, text in files:
        target = root / where / "systemd" / "user" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            target.symlink_to(os.devnull)
        else:
            target.write_text(text)


def _systemd(root: Path, name: str) -> tuple[list[str], list[tuple[str, str]], dict[str, str]]:
    tool = require_tool("systemd-analyze")
    cwd = root / "empty"
    cwd.mkdir()
    env = {**os.environ, **_environ(root), "SYSTEMD_LOG_LEVEL": "debug"}
    done = subprocess.run(
        [tool, "--user", "verify", "--man=no", name],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    dropins: list[str] = []
    listen: list[tuple[str, str]] = []
    settings: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.strip("\t").partition(": ")
        if key == "DropIn Path":
            dropins.append(value)
        elif key.startswith("Listen"):
            listen.append((key, value))
        else:
            settings.setdefault(key, value)
    assert settings.get("Unit Load State") == "loaded", done.stderr[-2000:]
    return dropins, listen, settings


@pytest.mark.parametrize("tree", sorted(TREES))
def test_a_named_unit_loads_with_the_drop_ins_systemd_applies(tmp_path: Path, tree: str) -> None:
    name, files = TREES[tree]
    _build(tmp_path, files)
    environ = _environ(tmp_path)
    theirs_dropins, theirs_listen, settings = _systemd(tmp_path, name)
    lookup = [p for p in unit_search_path("user", environ) if str(p).startswith(str(tmp_path))]
    ours_dropins = [str(p) for p in dropin_files(name, lookup)]
    # systemd lists the /dev/null-masked file too (it is read as empty); we skip it
    assert ours_dropins == [p for p in theirs_dropins if os.path.realpath(p) != os.devnull]
    specs = load_config(
        unit=name, unit_manager="user", env_prefix=None, environ=environ
    ).listen_specs()
    assert [("ListenStream", systemd_address(s.address)) for s in specs] == theirs_listen
    assert {s.name for s in specs} == {settings["FileDescriptorName"]}
    assert {s.backlog for s in specs} == {min(int(settings["Backlog"]), 2**31 - 1)}
    assert {f"{s.socket_mode:04o}" for s in specs} == {settings["SocketMode"]}
