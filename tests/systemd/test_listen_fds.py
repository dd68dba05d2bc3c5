"""sd_listen_fds for this process: CLOEXEC, unsetting, explicit environ, LISTEN_PIDFDID (R5).

Anything that needs real fds at 3, 4, ... runs in a child (tests/support/activated.py).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from types import MappingProxyType

import pytest

from socket_activation._errors import ActivationError
from socket_activation.systemd import listen_fds as _systemd
from tests.conftest import require
from tests.support.activated import me, run_child, tcp, udp6
from tests.support.paths import ROOT


def test_listen_fds_marks_cloexec_and_a_later_child_inherits_nothing(
    sockets: list[socket.socket],
) -> None:
    """R9/R11: after listen_fds_with_names the fds are CLOEXEC and LISTEN_* are gone from
    os.environ, so a subprocess started afterwards sees neither the fds nor the variables."""
    body = """
report["before"] = [cloexec(3), cloexec(4)]
report["result"] = sorted(sd.listen_fds_with_names().items())
report["after"] = [cloexec(3), cloexec(4)]
report["env"] = listen_env()
report["grandchild"] = grandchild_view()
"""
    fds = [tcp(sockets).fileno(), udp6(sockets).fileno()]
    report = run_child(body, fds, me("2", "web:dns"))
    assert report["before"] == [False, False]
    assert report["result"] == [[3, "web"], [4, "dns"]]
    assert report["after"] == [True, True]
    assert report["env"] == {}
    seen_fds, seen_env = report["grandchild"]
    assert seen_fds == []
    assert seen_env == {}


@pytest.mark.parametrize(
    ("env", "expected_errno"),
    [
        pytest.param(me("x"), errno.EINVAL, id="error-path"),
        pytest.param(me("2", pid="1"), None, id="not-for-us-path"),
        pytest.param(me("3"), errno.EBADF, id="ebadf-path"),
    ],
)
def test_listen_fds_unsets_os_environ_on_every_path(
    sockets: list[socket.socket], env: dict[str, str], expected_errno: int | None
) -> None:
    """R11: unset_environment removes LISTEN_* on error and "not for us" too (unlike the
    binding, from Python's os.environ as well, so children do not inherit them)."""
    body = """
try:
    report["result"] = sd.listen_fds()
except ValueError as exc:
    report["errno"] = exc.errno
report["env"] = listen_env()
report["grandchild_env"] = grandchild_view()[1]
"""
    fds = [tcp(sockets).fileno(), tcp(sockets).fileno()]
    report = run_child(body, fds, env)
    assert report.get("errno") == expected_errno
    assert report["env"] == {}
    assert report["grandchild_env"] == {}


def test_listen_fds_without_unset_keeps_the_environment(sockets: list[socket.socket]) -> None:
    """R11: unset_environment=False leaves LISTEN_* in place (and still marks CLOEXEC)."""
    body = """
report["result"] = sd.listen_fds(False)
report["env"] = sorted(listen_env())
report["cloexec"] = cloexec(3)
"""
    report = run_child(body, [tcp(sockets).fileno()], me("1", "a"))
    assert report["result"] == [3]
    assert report["env"] == ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"]
    assert report["cloexec"] is True


def test_ebadf_leaves_the_fds_before_it_cloexec(sockets: list[socket.socket]) -> None:
    """R9: LISTEN_FDS=3 with fds 3 and 4 open: EBADF naming fd 5, fds 3 and 4 now CLOEXEC."""
    body = """
try:
    sd.listen_fds_with_names()
except ValueError as exc:
    report["error"] = [type(exc).__name__, exc.errno, exc.variable, str(exc)]
report["cloexec"] = [cloexec(3), cloexec(4), cloexec(5)]
"""
    fds = [tcp(sockets).fileno(), tcp(sockets).fileno()]
    report = run_child(body, fds, me("3", "a:b:c"))
    name, err, variable, message = report["error"]
    assert (name, err, variable) == ("ActivationError", errno.EBADF, "LISTEN_FDS")
    assert "fd 5" in message
    assert report["cloexec"] == [True, True, None]


def test_explicit_mutable_environ_is_unset_in_place() -> None:
    """An explicit, mutable environ mapping loses its LISTEN_* variables; others stay."""
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_PIDFDID": "9", "HOME": "/root"}
    assert _systemd.listen_fds(environ=environ, pid=4242) == []
    assert environ == {"HOME": "/root"}


def test_explicit_read_only_environ_is_left_alone() -> None:
    """A read-only Mapping cannot be unset and is not: the call still answers."""
    environ = MappingProxyType({"LISTEN_PID": "1", "LISTEN_FDS": "2"})
    assert _systemd.listen_fds_with_names(environ=environ, pid=4242) == {}
    assert dict(environ) == {"LISTEN_PID": "1", "LISTEN_FDS": "2"}


def test_explicit_environ_errors_name_the_variable() -> None:
    """Malformed input raises ActivationError naming the variable and quoting the value."""
    environ = {"LISTEN_PID": "4242", "LISTEN_FDS": "3a"}
    with pytest.raises(ActivationError, match=r"LISTEN_FDS must be a positive integer, got '3a'"):
        _systemd.listen_fds(environ=environ, pid=4242)
    assert environ == {}


def test_explicit_environ_does_not_touch_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsetting applies to the mapping given, not to the process environment."""
    monkeypatch.setenv("LISTEN_FDNAMES", "keep")
    _systemd.listen_fds(environ={"LISTEN_PID": "1"}, pid=4242)
    assert os.environ["LISTEN_FDNAMES"] == "keep"


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(0, [3], id="own-pidfd-id-accepted"),
        pytest.param(1, [], id="other-pidfd-id-not-for-us"),
    ],
)
def test_listen_pidfdid_is_checked_against_our_own_pidfd(
    sockets: list[socket.socket], offset: int, expected: list[int]
) -> None:
    """R5: LISTEN_PIDFDID equal to our pidfd inode id is ours; a different one (a recycled
    pid) is not. Checked with a real pidfd; 252 cannot produce the variable."""
    body = f"""
own = sd.own_pidfd_inode_id()
report["own"] = own
if own is not None:
    os.environ["LISTEN_PIDFDID"] = str(own + {offset})
    report["result"] = sd.listen_fds()
    report["env"] = listen_env()
"""
    report = run_child(body, [tcp(sockets).fileno()], me("1"))
    require(report["own"] is not None, "kernel has no pidfs (needs Linux >= 6.9)")
    assert report["result"] == expected
    assert report["env"] == {}


def test_own_pidfd_inode_id_differs_between_processes() -> None:
    """The pidfd inode id identifies a process: ours differs from a child's."""
    own = _systemd.own_pidfd_inode_id()
    require(own is not None, "kernel has no pidfs (needs Linux >= 6.9)")
    code = (
        "from socket_activation.systemd import activation; print(activation.own_pidfd_inode_id())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert int(out) != own
