"""spawn_with_sockets: the child's stdio and process group (the listening fds are tested with
the handoff and supervise)."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from socket_activation.restart import spawn_nogil
from socket_activation.restart.spawn import spawn_with_sockets

# prints what it was given: LISTEN_FDS, its fd 3's address, its pgid and sid, stdin's first line
CHILD = """
import json, os, socket, sys
s = socket.socket(fileno=3)
print(json.dumps({
    'fds': os.environ.get('LISTEN_FDS'), 'fd3': list(s.getsockname()), 'pid': os.getpid(),
    'pgid': os.getpgid(0), 'sid': os.getsid(0), 'stdin': sys.stdin.readline().strip(),
}))
s.detach()
print('to stderr', file=sys.stderr)
"""


def run(tmp_path: Path, **options: object) -> dict[str, object]:
    """Spawn CHILD with one listening socket, stdio on files opened at the lowest fds."""
    listener = socket.create_server(("127.0.0.1", 0))
    (tmp_path / "in").write_text("from stdin\n")
    with listener:
        stdin = os.open(tmp_path / "in", os.O_RDONLY)
        out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
        err = os.open(tmp_path / "err", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            pid = spawn_with_sockets(
                [sys.executable, "-c", CHILD], [listener.fileno()], ["web"], dict(os.environ),
                stdin=stdin, stdout=out, stderr=err, **options,  # type: ignore[arg-type]
            )  # fmt: skip
        finally:
            for fd in (stdin, out, err):
                os.close(fd)
        _, status = os.waitpid(pid, 0)
        report = json.loads((tmp_path / "out").read_text())
        assert os.waitstatus_to_exitcode(status) == 0
        assert report["fd3"] == list(listener.getsockname())
    assert (tmp_path / "err").read_text() == "to stderr\n"
    return dict(report)


# in a fresh process (fds 3.. free): the log files get fds 3, 4, 5, the socket 6
DRIVER = """
import json, os, socket, sys
from socket_activation.restart.spawn import spawn_with_sockets
d = sys.argv[1]
stdin = os.open(d + '/in', os.O_RDONLY)
out = os.open(d + '/out', os.O_WRONLY | os.O_CREAT, 0o600)
err = os.open(d + '/err', os.O_WRONLY | os.O_CREAT, 0o600)
listener = socket.create_server(('127.0.0.1', 0))
assert (stdin, out, err, listener.fileno()) == (3, 4, 5, 6), (stdin, out, err, listener)
pid = spawn_with_sockets([sys.executable, '-c', sys.argv[2]], [listener.fileno()], ['web'],
                         dict(os.environ), stdin=stdin, stdout=out, stderr=err)
_, status = os.waitpid(pid, 0)
print(json.dumps({'status': status, 'address': list(listener.getsockname())}))
"""


def test_stdio_files_numbered_in_the_listening_range_are_not_overwritten(
    tmp_path: Path,
) -> None:
    """Log files open at fds 3, 4, 5 (a fresh process's lowest free fds) become the child's
    0, 1, 2 and the socket still lands at 3: stdio is placed from lifted copies first."""
    import subprocess

    (tmp_path / "in").write_text("from stdin\n")
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path), CHILD],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    driver = json.loads(done.stdout)
    assert driver["status"] == 0
    report = json.loads((tmp_path / "out").read_text())
    assert report["fd3"] == driver["address"]
    assert (report["fds"], report["stdin"]) == ("1", "from stdin")
    assert (tmp_path / "err").read_text() == "to stderr\n"


def test_stdio_goes_where_asked_and_the_group_stays_ours_by_default(tmp_path: Path) -> None:
    report = run(tmp_path)
    assert report["stdin"] == "from stdin"
    assert report["pgid"] == os.getpgid(0)


def test_process_group_makes_the_child_lead_a_group_in_our_session(tmp_path: Path) -> None:
    report = run(tmp_path, process_group=True)
    assert report["pgid"] == report["pid"]
    assert report["sid"] == os.getsid(0)


def test_setsid_makes_the_child_lead_a_session(tmp_path: Path) -> None:
    report = run(tmp_path, setsid=True, process_group=True)
    assert report["sid"] == report["pid"] == report["pgid"]


# --- release_gil: the handoff's spawn through ctypes (restart/spawn_nogil.py) ---

ENV_CHILD = """
import json, os, socket
s = socket.socket(fileno=3)
names = ('LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'SA_TEST')
seen = {'pid': os.getpid(), 'fd3': list(s.getsockname()), 'fd4': os.path.exists('/proc/self/fd/4')}
print(json.dumps({k: os.environ.get(k) for k in names} | seen))
s.detach()
"""


def _report(tmp_path: Path, release_gil: bool) -> dict[str, object]:
    out_path = tmp_path / f"out-{release_gil}"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            env = dict(os.environ, SA_TEST="é ünïcode")
            pid = spawn_with_sockets(
                [sys.executable, "-c", ENV_CHILD], [listener.fileno()], ["web"], env,
                stdout=out, release_gil=release_gil,
            )  # fmt: skip
        finally:
            os.close(out)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        report: dict[str, object] = json.loads(out_path.read_text())
        assert report.pop("fd3") == list(listener.getsockname())  # our socket at fd 3
    assert report.pop("pid") == int(str(report.pop("LISTEN_PID")))
    return report


def test_release_gil_gives_the_child_the_same_fds_and_environment(tmp_path: Path) -> None:
    assert _report(tmp_path, True) == _report(tmp_path, False)
    assert _report(tmp_path, True) == {
        "LISTEN_FDS": "1", "LISTEN_FDNAMES": "web", "SA_TEST": "é ünïcode", "fd4": False,
    }  # fmt: skip


def test_release_gil_calls_libc_through_a_gil_releasing_ctypes_library() -> None:
    """ctypes.CDLL releases the GIL around each call (PyDLL would not): posix_spawnp does;
    the calls that only fill memory keep it (a PyDLL), sparing a wait to take it back."""
    import ctypes

    assert spawn_nogil.prepare()
    libc, held = spawn_nogil._libc[0], spawn_nogil._held[0]
    assert type(libc) is ctypes.CDLL
    assert not libc.posix_spawnp._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
    assert type(held) is ctypes.PyDLL
    for name in ("posix_spawn_file_actions_adddup2", "posix_spawnattr_setflags"):
        assert getattr(held, name)._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]


def test_release_gil_reports_a_missing_program_as_posix_spawnp_does() -> None:
    with pytest.raises(FileNotFoundError) as ours:
        spawn_with_sockets(["/nonexistent/prog"], [], [], {}, release_gil=True)
    with pytest.raises(FileNotFoundError) as theirs:
        spawn_with_sockets(["/nonexistent/prog"], [], [], {})
    assert ours.value.errno == theirs.value.errno == errno.ENOENT


def test_release_gil_refuses_process_options() -> None:
    with pytest.raises(ValueError, match="release_gil"):
        spawn_with_sockets(["true"], [], [], {}, setsid=True, release_gil=True)


# --- born idle: the handoff's child at SCHED_IDLE from before its exec ---

# the first thing the child does is say its own policy: nobody lowers it after the spawn here
SAYS_POLICY = "import os; print(os.sched_getscheduler(0), flush=True)"


def _born_policy(tmp_path: Path, *, sched_idle: bool = False) -> int:
    out_path = tmp_path / "policy"
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        pid = spawn_with_sockets(
            [sys.executable, "-c", SAYS_POLICY], [], [], dict(os.environ), stdout=out,
            release_gil=True, sched_idle=sched_idle,
        )  # fmt: skip
    finally:
        os.close(out)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return int(out_path.read_text())


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux only")
def test_sched_idle_gives_the_child_sched_idle_from_birth_and_leaves_the_caller(
    tmp_path: Path,
) -> None:
    """glibc's setter refuses SCHED_IDLE; the policy written into the attributes is applied by
    the child itself before exec. The calling thread stays at its own class."""
    assert spawn_nogil.can_spawn_idle()
    assert _born_policy(tmp_path, sched_idle=True) == os.SCHED_IDLE
    assert _born_policy(tmp_path) == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux only")
def test_the_policy_is_found_where_libc_keeps_it() -> None:
    """The offset found holds what the setter wrote: SCHED_RR set, SCHED_RR read back."""
    import ctypes

    assert spawn_nogil.prepare()
    libc, at = spawn_nogil._libc[0], spawn_nogil._policy_at[0]
    assert at is not None
    attr = ctypes.create_string_buffer(spawn_nogil._ATTR_SIZE)
    assert libc.posix_spawnattr_init(attr) == 0
    assert libc.posix_spawnattr_setschedpolicy(attr, os.SCHED_RR) == 0
    assert ctypes.c_int.from_buffer(attr, at).value == os.SCHED_RR
    assert libc.posix_spawnattr_setschedpolicy(attr, os.SCHED_IDLE) != 0  # why we write it


def test_where_the_policy_cannot_be_found_the_child_is_born_as_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spawn_nogil.prepare()
    monkeypatch.setattr(spawn_nogil, "_policy_at", [None])
    assert not spawn_nogil.can_spawn_idle()
    assert _born_policy(tmp_path, sched_idle=True) == os.SCHED_OTHER
