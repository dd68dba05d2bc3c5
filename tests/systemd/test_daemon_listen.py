"""The drop-in's listen_fds*() against python-systemd's, and what children inherit after them.

Each case runs twice, in activated children laid out alike (tests/support/activated.py): once
with ``systemd.daemon`` (libsystemd 252 through its binding), once with
``socket_activation.daemon``. Both must agree on the result or the errno, on the CLOEXEC state
of the fds and on the C environment afterwards. The one deliberate difference, measured here
and stated in the README: with ``unset_environment`` the binding unsets only the C environment,
so ``os.environ`` keeps LISTEN_* and a child given ``env=dict(os.environ)`` (or a re-exec with
``os.environ``) inherits them; ours removes them from both.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.activated import me, run_child, tcp, udp6
from tests.support.oracle import systemd_daemon

BODY = r"""
import ctypes, importlib
daemon = importlib.import_module({module!r})
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
libc.getenv.argtypes = [ctypes.c_char_p]
VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
try:
    result = daemon.{function}({unset})
    report["result"] = sorted(result.items()) if isinstance(result, dict) else result
except OSError as exc:
    builtin = next(c for c in type(exc).__mro__ if c.__module__ == "builtins")
    report["raised"] = [builtin.__name__, exc.errno]
report["cloexec"] = [cloexec(fd) for fd in (3, 4)]
report["c_environ"] = {{k: libc.getenv(k.encode()) is not None for k in VARIABLES}}
report["os_environ"] = sorted(k for k in VARIABLES if k in os.environ)
probe = [sys.executable, "-c", "import json, os; print(json.dumps(sorted("
         "k for k in os.environ if k.startswith('LISTEN_'))))"]
report["child_env_none"] = json.loads(subprocess.run(
    probe, check=True, capture_output=True, text=True).stdout)
report["child_env_copy"] = json.loads(subprocess.run(
    probe, env=dict(os.environ), check=True, capture_output=True, text=True).stdout)
"""

MODULES = ("systemd.daemon", "socket_activation.daemon")


@pytest.fixture(scope="module")
def oracle() -> None:
    systemd_daemon()


@pytest.fixture
def two_sockets() -> Iterator[list[int]]:
    opened: list[socket.socket] = []
    tcp(opened)
    udp6(opened)
    try:
        yield [sock.fileno() for sock in opened]
    finally:
        for sock in opened:
            sock.close()


def run(
    module: str, function: str, unset: bool, fds: list[int | None], env: dict[str, str]
) -> dict[str, Any]:
    body = BODY.format(module=module, function=function, unset=unset)
    return run_child(body, fds, env)


CASES = [
    pytest.param(me("2"), id="two-fds"),
    pytest.param(me("2", "web:metrics"), id="two-named"),
    pytest.param(me("2", "web"), id="name-count-differs"),
    pytest.param(me("3"), id="third-fd-not-open"),
    pytest.param(me("2", pid="1"), id="not-our-pid"),
    pytest.param(me("x2"), id="fds-garbage"),
    pytest.param(me("2", pid="-1"), id="pid-negative"),
    pytest.param({"LISTEN_FDS": "2"}, id="pid-unset"),
    pytest.param({}, id="nothing"),
]


@pytest.mark.usefixtures("oracle")
@pytest.mark.parametrize("function", ["listen_fds", "listen_fds_with_names"])
@pytest.mark.parametrize("unset", [True, False])
@pytest.mark.parametrize("env", CASES)
def test_listen_fds_agrees_with_libsystemd(
    two_sockets: list[int], function: str, unset: bool, env: dict[str, str]
) -> None:
    """Same fds, names or errno; same CLOEXEC and C environment afterwards."""
    real, ours = (run(module, function, unset, list(two_sockets), env) for module in MODULES)
    compared = ("result", "raised", "cloexec", "c_environ", "child_env_none")
    assert {k: ours.get(k) for k in compared} == {k: real.get(k) for k in compared}


# What children inherit after listen_fds(unset_environment=True), measured for each library.
VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
INHERITED: dict[str, dict[str, list[str]]] = {
    # libsystemd unsets the C environment only: os.environ still has LISTEN_*
    "systemd.daemon": {
        "os_environ": ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"],
        "child_env_none": [],
        "child_env_copy": ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"],
    },
    "socket_activation.daemon": {"os_environ": [], "child_env_none": [], "child_env_copy": []},
}


@pytest.mark.usefixtures("oracle")
@pytest.mark.parametrize("module", MODULES)
def test_what_a_child_inherits_after_listen_fds(two_sockets: list[int], module: str) -> None:
    """env=None: no LISTEN_* from either; env=dict(os.environ): the binding's stale ones."""
    report = run(module, "listen_fds_with_names", True, list(two_sockets), me("2", "web:metrics"))
    assert report["result"] == [[3, "web"], [4, "metrics"]]
    assert report["c_environ"] == dict.fromkeys(VARIABLES, False)
    assert report["cloexec"] == [True, True]  # so no child gets the fds unless passed
    assert {k: report[k] for k in INHERITED[module]} == INHERITED[module]


REEXEC = r"""
import importlib
daemon = importlib.import_module({module!r})
daemon.listen_fds()
code = (
    "import importlib, json\n"
    "daemon = importlib.import_module({module!r})\n"
    "try:\n"
    "    report = {{'result': daemon.listen_fds()}}\n"
    "except OSError as exc:\n"
    "    report = {{'errno': exc.errno}}\n"
    "print(json.dumps(report))\n"
)
sys.stdout.flush()
os.execve(sys.executable, [sys.executable, "-c", code], os.environ)
"""


@pytest.mark.usefixtures("oracle")
@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # same pid, LISTEN_* kept in os.environ, the fds closed by exec (they were CLOEXEC)
        pytest.param("systemd.daemon", {"errno": 9}, id="binding-EBADF"),
        pytest.param("socket_activation.daemon", {"result": []}, id="ours-nothing-passed"),
    ],
)
def test_a_reexec_with_os_environ_after_listen_fds(
    two_sockets: list[int], module: str, expected: dict[str, Any]
) -> None:
    """os.execve(..., os.environ) keeps the pid: the binding's stale LISTEN_* then point at
    fds the exec closed, and listen_fds() in the new image fails with EBADF."""
    report = run_child(REEXEC.format(module=module), list(two_sockets), me("2"))
    assert report == expected
