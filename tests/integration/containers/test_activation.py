"""Socket activation into a real container: systemd-socket-activate or a .socket unit runs
``podman run``, with no init, with ``podman run --init`` (catatonit) and with tini.

podman passes the activated fds into the container (``LISTEN_FDS``, ``LISTEN_FDNAMES``) and sets
``LISTEN_PID=1``. What reaches the app then depends on the init, measured here:

- no init: the app is PID 1 and ``LISTEN_PID=1`` is its own pid;
- catatonit (``--init``): it rewrites ``LISTEN_PID`` to its child's pid, so the app takes the
  sockets with no opt-in;
- tini (Debian's tini-static as the entrypoint): ``LISTEN_PID=1`` is left as it is; the app's
  parent is PID 1 and its own pid is not predictable (6 or 7 seen, not 2): ``--trust-pid1``
  is needed, and without it the socket is not taken.

Then the image's own entrypoint (``socket-activation exec --user app``) serves the demo on the
activated TCP or Unix socket (a directory bind-mounted at the same path) under each init, both
from systemd-socket-activate and from a real user manager's ``.socket`` unit.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.net import curl, free_port, poke, stop_process
from tests.integration.podman import Podman
from tests.integration.usermanager import UserManager, exec_quote

pytestmark = pytest.mark.integration

TINI = Path("/usr/bin/tini-static")  # static: runs in any image
PYTHON = "/opt/socket-activation/bin/python"  # the image's venv
DEMO = ["socket-activation", "demo"]
ENTRYPOINT = ["socket-activation", "exec", "--user", "app"]

# Prints what the container's app sees, then exits (the probe needs no connection).
_PROBE = """
import json, os, socket
fd3 = socket.socket(fileno=3)
print(json.dumps({
    "pid": os.getpid(), "ppid": os.getppid(),
    "LISTEN_PID": os.environ.get("LISTEN_PID"), "LISTEN_FDS": os.environ.get("LISTEN_FDS"),
    "LISTEN_FDNAMES": os.environ.get("LISTEN_FDNAMES"), "fd3": str(fd3.getsockname()),
}), flush=True)
fd3.detach()
"""

INITS = ["none", "catatonit", "tini"]


def init_options(init: str) -> list[str]:
    """``podman run`` options that put *init* at the container's PID 1."""
    if init == "catatonit":
        return ["--init"]
    if init.startswith("tini"):
        require_tool("tini-static")
    if init == "tini-init-path":  # podman's --init with tini instead of catatonit
        return ["--init", "--init-path", str(TINI)]
    flags = {"tini": [], "tini-s": ["-s"], "tini-g": ["-g"]}.get(init)
    if flags is None:
        return []
    entrypoint = json.dumps(["/tini", *flags, "--"])
    return ["--volume", f"{TINI}:/tini:ro", "--entrypoint", entrypoint]


def app_command(init: str) -> list[str]:
    """The image's entrypoint and the demo; under tini (which replaced the entrypoint) the
    entrypoint is given again, with --trust-pid1."""
    if init == "tini":
        return [*ENTRYPOINT, "--trust-pid1", "--", *DEMO]
    return []  # the image's ENTRYPOINT and CMD


class Activated:
    """``systemd-socket-activate -l ADDRESS --fdname web podman run ...``.

    systemd-socket-activate gives its program an environment of only ``LISTEN_*`` and what
    ``--setenv`` names: podman's ``CONTAINERS_CONF`` is passed that way.
    """

    def __init__(self, podman: Podman, address: str, run: list[str]) -> None:
        tool = require_tool("systemd-socket-activate")
        conf = f"CONTAINERS_CONF={podman.conf}"
        self.proc = subprocess.Popen(
            [tool, "--listen", address, "--fdname", "web", "--setenv", conf, *podman.argv(*run)],
            env=podman.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def close(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def activated() -> Iterator[list[Activated]]:
    started: list[Activated] = []
    yield started
    for each in started:
        each.close()


def run_options(container: str, *more: str) -> list[str]:
    return ["run", "--rm", "--network", "host", "--name", container, *more]


@pytest.mark.parametrize("init", [*INITS, "tini-s", "tini-g", "tini-init-path"])
def test_what_the_app_sees_of_listen_pid_under_each_init(
    podman: Podman, image: str, container: str, activated: list[Activated], init: str
) -> None:
    """The measurement behind the README's table: who rewrites LISTEN_PID, and the app's pid."""
    port = free_port()
    entry = init_options(init)
    run = run_options(container, *entry, image)
    if init == "none":
        run[-1:] = ["--entrypoint", PYTHON, image, "-c", _PROBE]
    elif init in ("catatonit", "tini-init-path"):
        run[-1:] = ["--entrypoint", '["/opt/socket-activation/bin/python"]', image, "-c", _PROBE]
    else:
        run += [PYTHON, "-c", _PROBE]
    sa = Activated(podman, f"127.0.0.1:{port}", run)
    activated.append(sa)
    poke(port)  # systemd-socket-activate starts podman on the first connection
    out, err = sa.proc.communicate(timeout=60)
    assert out.strip(), f"the probe printed nothing; stderr:\n{err}"
    seen = json.loads(out.strip().splitlines()[-1])
    assert (seen["LISTEN_FDS"], seen["LISTEN_FDNAMES"]) == ("1", "web"), err
    assert seen["fd3"] == f"('127.0.0.1', {port})"
    if init == "none":
        assert (seen["pid"], seen["LISTEN_PID"]) == (1, "1")
    elif init == "catatonit":
        assert seen["ppid"] == 1
        assert seen["LISTEN_PID"] == str(seen["pid"]), "catatonit rewrote LISTEN_PID"
    else:  # tini, however started
        assert seen["ppid"] == 1
        assert seen["LISTEN_PID"] == "1", "tini leaves LISTEN_PID=1"
        assert seen["pid"] != 1


def serve_address(transport: str, short_tmp: str) -> tuple[str, list[str], list[str]]:
    """(listen address, podman options, curl options) for *transport*."""
    if transport == "tcp":
        port = free_port()
        return f"127.0.0.1:{port}", [], [f"http://127.0.0.1:{port}/"]
    path = f"{short_tmp}/web.sock"
    return path, ["--volume", f"{short_tmp}:{short_tmp}"], ["--unix-socket", path, "http://x/"]


def check_answer(answer: dict[str, object], address: str, init: str) -> None:
    assert (answer["source"], answer["name"], answer["fd"]) == ("systemd", "web", 3)
    assert answer["address"] == address
    if init == "none":
        assert answer["pid"] == 1, "exec replaced the entrypoint: the demo is PID 1"
    else:
        assert answer["pid"] != 1, "the init is PID 1"


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("init", INITS)
def test_systemd_socket_activate_into_podman_serves_the_demo(
    *,
    podman: Podman,
    image: str,
    container: str,
    activated: list[Activated],
    short_tmp: str,
    init: str,
    transport: str,
) -> None:
    """systemd-socket-activate → podman run → (init →) the entrypoint → the demo, on its socket."""
    address, volume, request = serve_address(transport, short_tmp)
    run = run_options(
        container,
        "--env",
        f"SOCKET_ACTIVATION_LISTEN={address}",  # configured as the activator's: fd 3 matches it
        *volume,
        *init_options(init),
        image,
        *app_command(init),
    )
    activated.append(Activated(podman, address, run))
    check_answer(curl(*request, timeout=60), address, init)


def test_under_tini_without_trust_pid1_the_passed_socket_is_not_taken(
    podman: Podman, image: str, container: str, activated: list[Activated]
) -> None:
    """Why --trust-pid1 exists: under tini LISTEN_PID=1 is not the app's pid, so the entrypoint
    ignores fd 3 and binds the configured address instead (a loopback one here)."""
    port, own = free_port(), free_port()
    run = run_options(
        container,
        "--env",
        f"SOCKET_ACTIVATION_LISTEN=127.0.0.1:{own}",
        *init_options("tini"),
        image,
        *ENTRYPOINT,
        "--",
        *DEMO,
    )
    sa = Activated(podman, f"127.0.0.1:{port}", run)
    activated.append(sa)
    poke(port)  # starts the container; nothing will accept on fd 3
    answer = curl(f"http://127.0.0.1:{own}/", timeout=60)
    # exec bound the configured address itself (and passed that on as the demo's fd 3): the
    # activated socket, named "web", was ignored
    assert (answer["name"], answer["address"]) == ("unknown", f"127.0.0.1:{own}")


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("init", INITS)
def test_a_user_manager_socket_unit_activates_podman_run(
    *,
    podman: Podman,
    image: str,
    container: str,
    user_manager: UserManager,
    user_units: str,
    short_tmp: str,
    init: str,
    transport: str,
) -> None:
    """A real ``.socket`` unit whose service is ``podman run``: the demo serves its socket."""
    address, volume, request = serve_address(transport, short_tmp)
    run = run_options(
        container,
        "--env",
        f"SOCKET_ACTIVATION_LISTEN={address}",  # configured as the activator's: fd 3 matches it
        *volume,
        *init_options(init),
        image,
        *app_command(init),
    )
    user_manager.write_unit(
        f"{user_units}-web.socket",
        f"[Socket]\nListenStream={address}\nFileDescriptorName=web\n",
    )
    user_manager.write_unit(
        f"{user_units}-web.service",
        "[Service]\n"
        f"{podman.unit_environment()}\n"
        f"ExecStart={exec_quote(*podman.unit_command(*run))}\n"
        "TimeoutStopSec=20\n",
    )
    user_manager.daemon_reload()
    user_manager.systemctl("start", f"{user_units}-web.socket")
    try:
        check_answer(curl(*request, timeout=60), address, init)
    finally:
        user_manager.systemctl("stop", f"{user_units}-web.service", check=False)
