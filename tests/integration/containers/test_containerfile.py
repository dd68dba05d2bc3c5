"""packaging/container/Containerfile as text: its instructions parse, and its entrypoint works.

The image itself is built and run by real podman in tests/integration/containers/. What is
checked here, also on machines without podman:

- the file parses into instructions; ENTRYPOINT and CMD are exec-form JSON arrays (a shell-form
  entrypoint would put /bin/sh at PID 1, which forwards no signals); the base image is the
  ``BASE`` build argument, defaulting to python:3.12-slim; the final stage has no USER (the
  entrypoint must start as root to bind 80); the build installs only from the copied wheels
  (``--no-index``: no network);
- ENTRYPOINT + CMD are run outside a container, as root, exactly as written except: the
  ``SOCKET_ACTIVATION_LISTEN`` of the file (0.0.0.0:80) becomes a free port on 127.0.0.1
  (loopback only), user ``app`` becomes ``nobody`` (this machine has no ``app``), and
  ``socket-activation`` on PATH is this checkout run by Debian's /usr/bin/python3 (root's own
  Python lives under /root, which nobody cannot read). The demo must answer curl from a
  process running as nobody, on the socket bound as root.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require, require_root
from tests.integration.net import curl

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CONTAINERFILE = ROOT / "packaging" / "container" / "Containerfile"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, ``\\`` continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        result.append((keyword.upper(), args.strip()))
    assert not pending, "the file ends inside a continuation line"
    return result


def final_stage() -> list[tuple[str, str]]:
    parsed = instructions(CONTAINERFILE.read_text())
    last_from = max(i for i, (keyword, _) in enumerate(parsed) if keyword == "FROM")
    return parsed[last_from:]


def exec_form(keyword: str) -> list[str]:
    """The final stage's only KEYWORD, which must be a JSON array of strings."""
    [args] = [args for k, args in final_stage() if k == keyword]
    value = json.loads(args)
    assert isinstance(value, list)
    assert all(isinstance(item, str) for item in value)
    return value


def test_instructions_parse_and_the_base_is_an_argument_defaulting_to_python_slim() -> None:
    """Known instructions only; one FROM, of ``${BASE}``, whose default is a public image."""
    parsed = instructions(CONTAINERFILE.read_text())
    known = {"ARG", "FROM", "WORKDIR", "COPY", "RUN", "EXPOSE", "ENTRYPOINT", "CMD", "USER", "ENV"}
    assert {keyword for keyword, _ in parsed} <= known
    froms = [args.split()[0] for keyword, args in parsed if keyword == "FROM"]
    assert froms == ["${BASE}"]
    assert ("ARG", "BASE=python:3.12-slim") in parsed


def test_the_build_installs_from_the_copied_wheels_only() -> None:
    """The wheels come from the build context; pip never looks at an index."""
    stage = final_stage()
    assert ("COPY", "wheels/ /tmp/wheels/") in stage
    [run] = [args for keyword, args in stage if keyword == "RUN"]
    assert "--no-index --find-links /tmp/wheels" in run


def environment() -> dict[str, str]:
    """The final stage's ENV, as KEY=VALUE pairs (the form the file uses)."""
    env: dict[str, str] = {}
    for keyword, args in final_stage():
        if keyword == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


@pytest.mark.parametrize("keyword", [pytest.param(k, id=k) for k in ("ENTRYPOINT", "CMD")])
def test_entrypoint_and_cmd_are_exec_form(keyword: str) -> None:
    """ENTRYPOINT and CMD are JSON arrays: no /bin/sh between the container and the program."""
    assert exec_form(keyword)


def test_entrypoint_binds_the_exposed_port_as_root_then_switches_to_app() -> None:
    """No USER in the final stage; the entrypoint listens on the EXPOSEd port and drops to app."""
    stage = final_stage()
    assert "USER" not in {keyword for keyword, _ in stage}
    [exposed] = [args for keyword, args in stage if keyword == "EXPOSE"]
    entrypoint = exec_form("ENTRYPOINT")
    assert entrypoint[:2] == ["socket-activation", "exec"]
    assert environment()["SOCKET_ACTIVATION_LISTEN"] == f"0.0.0.0:{exposed}"
    assert entrypoint[entrypoint.index("--user") + 1] == "app"
    assert entrypoint[-1] == "--"
    assert any(
        "useradd" in args and args.rstrip().endswith(" app") for k, args in stage if k == "RUN"
    )


# -- the entrypoint, run outside a container -------------------------------------------------


@pytest.fixture
def runnable_as_nobody(short_tmp: str) -> Path:
    """A PATH directory whose ``socket-activation`` runs this checkout on Debian's python3."""
    require_root()
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} is missing")
    debian = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    require(
        tuple(map(int, debian)) == sys.version_info[:2],
        f"pydantic_core of Python {sys.version_info[:2]} cannot load in {DEBIAN_PYTHON} {debian}",
    )
    import pydantic

    import socket_activation

    paths = [Path(socket_activation.__file__).parents[1], Path(pydantic.__file__).parents[1]]
    bindir = Path(short_tmp)
    bindir.chmod(0o755)
    script = bindir / "socket-activation"
    script.write_text(
        f"#!{DEBIAN_PYTHON}\n"
        "import sys\n"
        f"sys.path[:0] = {[str(p) for p in paths]!r}\n"
        "from socket_activation.cli import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)
    return bindir


def test_entrypoint_serves_the_demo_as_an_unprivileged_user(
    runnable_as_nobody: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """ENTRYPOINT + CMD: the socket is bound as root, the demo serves it as the switched user."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [{"app": "nobody"}.get(arg, arg) for arg in exec_form("ENTRYPOINT") + exec_form("CMD")]
    listen = environment()["SOCKET_ACTIVATION_LISTEN"]
    assert listen == "0.0.0.0:80"
    env = {
        "PATH": f"{runnable_as_nobody}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "SOCKET_ACTIVATION_LISTEN": f"127.0.0.1:{port}",
    }
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    answer = curl(f"http://127.0.0.1:{port}/", timeout=30)
    assert (answer["source"], answer["fd"], answer["address"]) == (
        "systemd",
        3,
        f"127.0.0.1:{port}",
    )
    assert answer["pid"] == proc.pid, "exec replaced the entrypoint: no wrapper process"
    status = Path(f"/proc/{proc.pid}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    nobody = pwd.getpwnam("nobody")
    assert set(map(int, uids)) == {nobody.pw_uid}, "real, effective, saved and fs uid all dropped"
    groups = next(line.split()[1:] for line in status.splitlines() if line.startswith("Groups:"))
    assert set(map(int, groups)) <= set(os.getgrouplist("nobody", nobody.pw_gid))
