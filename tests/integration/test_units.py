"""The example units in units/ pass ``systemd-analyze verify`` and serve the demo for real.

How these tests stay honest about "exactly these units":

- The only edit ever made to a unit is :func:`substitute`: the program path
  ``/usr/bin/socket-activation`` (which the package installs, but this machine may not have)
  becomes this checkout's ``socket-activation``, and, for the live tests only, the ports 8000
  and 8001 (which something else on the machine may hold) become free ones. Each replaced
  string must occur in the original (so a renamed path cannot silently skip the rewrite), and
  the test asserts that the copy differs from the original in nothing else, line by line.
- ``verify`` is checked for exit status 0 *and* no output: systemd-analyze only warns, with
  exit status 0, about unknown keys or bad values, so a typo would otherwise pass. A negative
  control proves this check fails on a typo.
- The unedited originals are verified too: the one complaint allowed is the missing
  ``/usr/bin/socket-activation`` itself.
- ``%t`` is kept: under the sandboxed user manager it is ``$XDG_RUNTIME_DIR`` (a short path
  under /tmp), so the Unix socket is where the unit says.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.net import curl, free_port_for_tcp_and_udp
from tests.integration.usermanager import UserManager

pytestmark = pytest.mark.integration

UNITS = Path(__file__).resolve().parents[2] / "units"
PACKAGED_PROGRAM = "/usr/bin/socket-activation"
# the console script of this checkout (same directory as the interpreter running the tests)
PROGRAM = str(Path(sys.executable).parent / "socket-activation")

SOCKET = "socket-activation-demo.socket"
SERVICE = "socket-activation-demo.service"
ACCEPT_SOCKET = "socket-activation-demo-accept.socket"
ACCEPT_SERVICE = "socket-activation-demo-accept@.service"
ALL_UNITS = (SOCKET, SERVICE, ACCEPT_SOCKET, ACCEPT_SERVICE)
SERVICES = (SERVICE, ACCEPT_SERVICE)


def substitute(name: str, replacements: dict[str, str]) -> str:
    """The text of ``units/<name>`` with each key replaced, and nothing else changed.

    Every key must occur in the original; the result must differ from it only on lines
    containing a key.
    """
    original = (UNITS / name).read_text()
    text = original
    for old, new in replacements.items():
        assert old in original, f"{name} no longer contains {old!r}: update this test"
        text = text.replace(old, new)
    changed = [
        line
        for line in difflib.ndiff(original.splitlines(), text.splitlines())
        if line.startswith("- ")
    ]
    assert all(any(old in line for old in replacements) for line in changed), changed
    return text


def program_for(name: str) -> dict[str, str]:
    """The ExecStart program rewrite, for service units only."""
    return {PACKAGED_PROGRAM: PROGRAM} if name.endswith(".service") else {}


def analyze_verify(directory: Path, name: str, *, user: bool) -> tuple[int, str]:
    """``systemd-analyze [--user] verify DIR/NAME``: exit status and everything it printed."""
    exe = require_tool("systemd-analyze")
    runtime = directory / "runtime"  # --user needs XDG_RUNTIME_DIR (it expands %t)
    runtime.mkdir(mode=0o700, exist_ok=True)
    done = subprocess.run(
        [exe, *(["--user"] if user else []), "verify", str(directory / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"},
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def copy_units(directory: Path, replacements: dict[str, str] | None = None) -> None:
    """All four units into *directory*, with the program rewrite (and *replacements*)."""
    for name in ALL_UNITS:
        text = substitute(name, {**program_for(name), **(replacements or {})})
        (directory / name).write_text(text)


@pytest.mark.parametrize(
    ("name", "user"),
    [
        pytest.param(name, user, id=f"{name}-{'user' if user else 'system'}")
        for name in ALL_UNITS
        for user in (False, True)
    ],
)
def test_unit_passes_systemd_analyze_verify(name: str, user: bool, tmp_path: Path) -> None:
    """Each example unit verifies cleanly (no warning at all) for the system and user manager."""
    copy_units(tmp_path)
    assert analyze_verify(tmp_path, name, user=user) == (0, "")


def test_verify_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    """Negative control: a unit with a typo'd key fails the check above (a warning, exit 0)."""
    copy_units(tmp_path)
    path = tmp_path / SERVICE
    path.write_text(path.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    status, output = analyze_verify(tmp_path, SERVICE, user=False)
    assert (status, output) != (0, "")
    assert "Unknown key 'NoNewPrivilege'" in output


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in SERVICES])
def test_unedited_service_only_lacks_the_packaged_program(name: str, tmp_path: Path) -> None:
    """The originals verify but for the missing /usr/bin/socket-activation (what we rewrite)."""
    if Path(PACKAGED_PROGRAM).exists():
        pytest.skip(f"{PACKAGED_PROGRAM} is installed here: the original is verified as is")
    for unit in ALL_UNITS:
        (tmp_path / unit).write_text((UNITS / unit).read_text())
    status, output = analyze_verify(tmp_path, name, user=False)
    assert status != 0
    lines = output.splitlines()
    assert lines, "systemd-analyze said nothing about a missing program"
    assert all(f"Command {PACKAGED_PROGRAM} is not executable" in line for line in lines), lines


# -- the demo under a real (sandboxed) systemd user manager ---------------------------------


@pytest.fixture
def demo_units(user_manager: UserManager) -> Iterator[UserManager]:
    """The manager, with the demo units removed and stopped after the test.

    The units keep their real names (the socket/service pairing is by name), so this test is
    the only one that may load them.
    """
    yield user_manager
    if user_manager.running:
        user_manager.systemctl(
            "stop",
            SOCKET,
            SERVICE,
            ACCEPT_SOCKET,
            "socket-activation-demo-accept@*",
            check=False,
        )
        for name in ALL_UNITS:
            (user_manager.unit_dir / name).unlink(missing_ok=True)
        user_manager.daemon_reload()
        user_manager.systemctl("reset-failed", "socket-activation-demo*", check=False)


def udp_ask(port: int, timeout: float = 20) -> dict[str, object]:
    """Send a datagram to 127.0.0.1:port until the demo answers; its JSON."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        while True:
            sock.sendto(b"hello\n", ("127.0.0.1", port))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                continue
            return dict(json.loads(data))


def test_demo_units_serve_tcp_unix_and_udp(demo_units: UserManager) -> None:
    """socket-activation-demo.{socket,service}: curl over TCP and Unix, a datagram, READY=1."""
    manager = demo_units
    port = free_port_for_tcp_and_udp()
    manager.write_unit(SOCKET, substitute(SOCKET, {":8000": f":{port}"}))
    manager.write_unit(SERVICE, substitute(SERVICE, program_for(SERVICE)))
    manager.daemon_reload()
    manager.systemctl("start", SOCKET)
    # the service is not running until the first connection
    assert manager.show(SERVICE, "ActiveState")["ActiveState"] == "inactive"

    path = manager.runtime_dir / "socket-activation-demo.sock"
    tcp = curl(f"http://127.0.0.1:{port}/", timeout=30)
    unix = curl("--unix-socket", str(path), "http://localhost/", timeout=30)
    udp = udp_ask(port)
    seen = {(r["fd"], r["kind"], r["address"]) for r in (tcp, unix, udp)}
    assert seen == {
        (3, "tcp", f"127.0.0.1:{port}"),
        (4, "unix-stream", str(path)),
        (5, "udp", f"127.0.0.1:{port}"),
    }
    assert {(r["source"], r["name"]) for r in (tcp, unix, udp)} == {("systemd", "demo")}
    assert len({r["pid"] for r in (tcp, unix, udp)}) == 1, "one service serves all three"
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)  # SocketMode=0600

    manager.wait_for(SERVICE, "ActiveState", "active")
    shown = manager.show(SERVICE, "StatusText", "NotifyAccess", "FileDescriptorStoreMax")
    assert shown == {
        "StatusText": "serving 3 socket(s)",
        "NotifyAccess": "main",
        "FileDescriptorStoreMax": "8",
    }


def test_accept_template_serves_each_connection_in_its_own_instance(
    demo_units: UserManager,
) -> None:
    """socket-activation-demo-accept.socket + @.service: one demo process per connection."""
    manager = demo_units
    port = free_port_for_tcp_and_udp()
    manager.write_unit(ACCEPT_SOCKET, substitute(ACCEPT_SOCKET, {":8001": f":{port}"}))
    manager.write_unit(ACCEPT_SERVICE, substitute(ACCEPT_SERVICE, program_for(ACCEPT_SERVICE)))
    manager.daemon_reload()
    manager.systemctl("start", ACCEPT_SOCKET)

    first = curl(f"http://127.0.0.1:{port}/", timeout=30)
    second = curl(f"http://127.0.0.1:{port}/", timeout=30)
    for answer in (first, second):
        assert (answer["source"], answer["name"], answer["fd"], answer["kind"]) == (
            "systemd",
            "connection",
            3,
            "tcp",
        )
    assert first["pid"] != second["pid"], "each connection gets its own process"
    accepted = manager.show(ACCEPT_SOCKET, "NAccepted")["NAccepted"]
    assert int(accepted) >= 2
    # each instance exits after its one request: no connection is left open
    manager.wait_for(ACCEPT_SOCKET, "NConnections", "0", timeout=20)
