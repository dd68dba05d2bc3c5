"""The systemd edge: CLOEXEC, unsetting, the cached snapshot, diagnostics and wrapping.

Anything that needs real fds at 3, 4, ... runs in a child (tests/support/activated_child.py) that
places the test's sockets there as a manager would and sets its own LISTEN_PID.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from socket_activation._errors import ActivationError
from socket_activation.systemd import activation as _systemd
from tests.conftest import require, require_root, require_tool
from tests.support.paths import ROOT, TESTS

CHILD = TESTS / "support" / "activated_child.py"

PRELUDE = r"""
import fcntl, json, os, socket, subprocess, sys
from socket_activation.systemd import activation as sd
from tests.support.paths import ROOT, TESTS

def cloexec(fd):
    try:
        return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    except OSError:
        return None

def listen_env():
    return {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}

def show(act):
    return {
        "source": act.source,
        "notes": list(act.notes),
        "remote": [act.remote_addr, act.remote_port],
        "fds": [
            {
                "fd": e.fd,
                "name": e.name,
                "kind": e.kind,
                "listening": e.info.listening if e.is_socket else None,
                "address": e.info.address if e.is_socket else None,
                "peer": e.info.peer if e.is_socket else None,
                "what": None if e.is_socket else e.info,
                "is_connection": e.is_connection,
                "is_listener": e.is_listener,
            }
            for e in act.fds
        ],
    }

def grandchild_view():
    # close_fds=False: only CLOEXEC keeps the passed fds out of the grandchild.
    code = (
        "import json, os\n"
        "def is_open(fd):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print(json.dumps([[fd for fd in range(3, 10) if is_open(fd)],"
        " {k: v for k, v in os.environ.items() if k.startswith('LISTEN_')}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], close_fds=False, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)
"""


def run_child(
    body: str,
    fds: Sequence[int | None],
    env: Mapping[str, str],
    *,
    prefix: list[str] | None = None,
    stdin: int | None = None,
) -> dict[str, Any]:
    """Run *body* in a child whose fds 3.. are *fds* and whose environment adds *env*."""
    spec = json.dumps({"fds": list(fds), "env": dict(env), "body": PRELUDE + body})
    child_env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": os.environ.get("PATH", "")}
    argv = [*(prefix or []), sys.executable, str(CHILD), spec]
    done = subprocess.run(
        argv,
        pass_fds=[fd for fd in fds if fd is not None],
        env=child_env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def me(fds: str, names: str | None = None, pid: str = "{pid}") -> dict[str, str]:
    env = {"LISTEN_PID": pid, "LISTEN_FDS": fds}
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    return env


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temp directory: Unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Sockets a test opens; all closed afterwards."""
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def tcp(opened: list[socket.socket], *, listen: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    opened.append(sock)
    sock.bind(("127.0.0.1", 0))
    if listen:
        sock.listen()
    return sock


def udp6(opened: list[socket.socket]) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    opened.append(sock)
    sock.bind(("::1", 0))
    return sock


def unix(opened: list[socket.socket], kind: int, address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, kind)
    opened.append(sock)
    sock.bind(address)
    if kind != socket.SOCK_DGRAM:
        sock.listen()
    return sock


# --- listen_fds / listen_fds_with_names -----------------------------------------------------


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


# --- LISTEN_PIDFDID (R5) --------------------------------------------------------------------


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


# --- the snapshot ---------------------------------------------------------------------------


def test_snapshot_describes_every_kind_of_socket_as_the_kernel_sees_it(
    sockets: list[socket.socket], short_dir: Path
) -> None:
    """Family and type come from the kernel, never assumed: tcp, udp6, unix stream, dgram,
    seqpacket and abstract sockets are described and named in order."""
    abstract = f"\0sa-test-{uuid.uuid4().hex[:12]}"
    fds = [
        tcp(sockets).fileno(),
        udp6(sockets).fileno(),
        unix(sockets, socket.SOCK_STREAM, str(short_dir / "s")).fileno(),
        unix(sockets, socket.SOCK_DGRAM, str(short_dir / "d")).fileno(),
        unix(sockets, socket.SOCK_SEQPACKET, str(short_dir / "q")).fileno(),
        unix(sockets, socket.SOCK_STREAM, abstract).fileno(),
    ]
    body = """
act = sd.systemd_activation()
report["act"] = show(act)
report["cloexec"] = [cloexec(fd) for fd in range(3, 9)]
report["env"] = listen_env()
report["grandchild"] = grandchild_view()
"""
    names = "web:dns:api:log:seq:abs"
    report = run_child(body, fds, me("6", names))
    act = report["act"]
    assert act["source"] == "systemd"
    assert act["notes"] == []
    got = [(e["fd"], e["name"], e["kind"], e["address"]) for e in act["fds"]]
    assert got == [
        (3, "web", "tcp", f"127.0.0.1:{sockets[0].getsockname()[1]}"),
        (4, "dns", "udp", f"[::1]:{sockets[1].getsockname()[1]}"),
        (5, "api", "unix-stream", str(short_dir / "s")),
        (6, "log", "unix-dgram", str(short_dir / "d")),
        (7, "seq", "unix-seqpacket", str(short_dir / "q")),
        (8, "abs", "unix-stream", "@" + abstract[1:]),
    ]
    assert [e["is_listener"] for e in act["fds"]] == [True] * 6
    assert report["cloexec"] == [True] * 6
    assert report["env"] == {}
    assert report["grandchild"] == [[], {}], "a later subprocess inherits no fd and no LISTEN_*"


def test_wrapping_gives_sockets_of_the_real_family_and_type_unchanged(
    sockets: list[socket.socket], short_dir: Path
) -> None:
    """InheritedFd.socket() wraps the fd as its real family/type, calls no listen() (a bound,
    unlistened TCP socket stays unlistened) and only changes blocking when asked."""
    abstract = f"\0sa-test-{uuid.uuid4().hex[:12]}"
    fds = [
        tcp(sockets, listen=False).fileno(),
        udp6(sockets).fileno(),
        unix(sockets, socket.SOCK_SEQPACKET, str(short_dir / "q")).fileno(),
        unix(sockets, socket.SOCK_STREAM, str(short_dir / "s")).fileno(),
        unix(sockets, socket.SOCK_DGRAM, str(short_dir / "d")).fileno(),
        unix(sockets, socket.SOCK_STREAM, abstract).fileno(),
    ]
    body = """
act = sd.systemd_activation()
out = []
for entry in act.fds:
    sock = entry.socket(nonblocking=entry.fd == 4)
    out.append([sock.fileno(), sock.family.name, sock.type.name,
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), sock.getblocking(),
                entry.socket() is sock])
report["wrapped"] = out
"""
    report = run_child(body, fds, me("6"))
    assert report["wrapped"] == [
        [3, "AF_INET", "SOCK_STREAM", 0, True, True],
        [4, "AF_INET6", "SOCK_DGRAM", 0, False, True],
        [5, "AF_UNIX", "SOCK_SEQPACKET", 1, True, True],
        [6, "AF_UNIX", "SOCK_STREAM", 1, True, True],
        [7, "AF_UNIX", "SOCK_DGRAM", 0, True, True],
        [8, "AF_UNIX", "SOCK_STREAM", 1, True, True],
    ]


def test_snapshot_is_read_once_and_every_query_sees_the_same_fds(
    sockets: list[socket.socket],
) -> None:
    """go-systemd's one-shot trap avoided: asking twice, for TCP then UDP then by name, gives
    the same fds, even though the first read unset the environment."""
    body = """
first = sd.systemd_activation()
report["env_after_first"] = listen_env()
tcp = [e.fd for e in sd.systemd_activation().of_kind("tcp")]
udp = [e.fd for e in sd.systemd_activation().of_kind("udp")]
named = [e.fd for e in sd.systemd_activation().named("dns")]
os.environ.update({"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"})
again = sd.systemd_activation()
report["same_object"] = again is first
report["queries"] = [tcp, udp, named, [e.fd for e in again.listeners]]
"""
    fds = [tcp(sockets).fileno(), udp6(sockets).fileno(), tcp(sockets).fileno()]
    report = run_child(body, fds, me("3", "web:dns:web"))
    assert report["env_after_first"] == {}
    assert report["same_object"] is True
    assert report["queries"] == [[3, 5], [4], [4], [3, 4, 5]]


def test_a_forked_child_reads_afresh_and_finds_nothing(sockets: list[socket.socket]) -> None:
    """The cache is keyed by pid: after fork the child does not reuse the parent's answer
    (the fds were meant for the parent, and the environment is already unset)."""
    body = """
parent = sd.systemd_activation()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    child = sd.systemd_activation()
    os.write(w, json.dumps([child.source, [e.fd for e in child.fds], list(child.notes)]).encode())
    os._exit(0)
os.close(w)
with os.fdopen(r) as f:
    report["child"] = json.loads(f.read())
os.waitpid(pid, 0)
report["parent"] = [e.fd for e in parent.fds]
"""
    report = run_child(body, [tcp(sockets).fileno()], me("1"))
    assert report["parent"] == [3]
    source, fds, notes = report["child"]
    assert (source, fds) == ("", [])
    assert notes == ["not activated: LISTEN_PID is not set"]


def test_diagnostics_name_closed_fds_dev_null_and_regular_files(
    sockets: list[socket.socket], short_dir: Path
) -> None:
    """Notes explain each ignored fd: closed (the entrypoint-script trap), /dev/null, a regular
    file; the sockets among them are still served."""
    regular = short_dir / "data.txt"
    regular.write_text("x")
    with contextlib.ExitStack() as stack:
        null_fd = os.open(os.devnull, os.O_RDWR)
        stack.callback(os.close, null_fd)
        file_fd = os.open(regular, os.O_RDONLY)
        stack.callback(os.close, file_fd)
        body = """
act = sd.systemd_activation()
report["act"] = show(act)
try:
    act.fds[1].socket()
except ValueError as exc:
    report["wrap_error"] = [type(exc).__name__, str(exc)]
"""
        fds = [null_fd, None, file_fd, tcp(sockets).fileno()]
        report = run_child(body, fds, me("4", "a:b:c:d"))
    act = report["act"]
    assert act["notes"] == [
        "fd 3 ('a') is a character device (/dev/null), not a socket; ignored",
        "fd 4 ('b') is not open — did an entrypoint script close it?",
        f"fd 5 ('c') is a regular file ({regular}), not a socket; ignored",
    ]
    assert [e["fd"] for e in act["fds"] if e["is_listener"]] == [6]
    assert report["wrap_error"] == [
        "InheritedSocketError",
        "fd 4 ('b') is not open, not a socket",
    ]


def test_a_name_count_mismatch_is_noted_and_names_become_unknown(
    sockets: list[socket.socket],
) -> None:
    """R16 in the snapshot: the fds are kept, the names ignored, and the note says why."""
    body = "report['act'] = show(sd.systemd_activation())"
    fds = [tcp(sockets).fileno(), tcp(sockets).fileno()]
    report = run_child(body, fds, me("2", "only-one"))
    assert [e["name"] for e in report["act"]["fds"]] == ["unknown", "unknown"]
    assert report["act"]["notes"] == [
        "LISTEN_FDNAMES must have one name per fd (LISTEN_FDS=2), got 1: 'only-one'; "
        "names ignored, every fd is 'unknown'"
    ]


def test_missing_names_are_unknown(sockets: list[socket.socket]) -> None:
    """R17: without LISTEN_FDNAMES every fd is named 'unknown' (and none is dropped)."""
    body = "report['names'] = [e.name for e in sd.systemd_activation().fds]"
    report = run_child(body, [tcp(sockets).fileno(), udp6(sockets).fileno()], me("2"))
    assert report["names"] == ["unknown", "unknown"]


def test_a_pid_mismatch_is_noted(sockets: list[socket.socket]) -> None:
    """R4: a LISTEN_PID for another process leaves us not activated, saying which pid."""
    body = "report['act'] = show(sd.systemd_activation()); report['pid'] = os.getpid()"
    report = run_child(body, [tcp(sockets).fileno()], me("1", pid="1"))
    assert report["act"]["source"] == ""
    assert report["act"]["notes"] == [
        f"not activated: LISTEN_PID=1 is not this process (pid {report['pid']})"
    ]


def test_malformed_variables_raise_on_every_call(sockets: list[socket.socket]) -> None:
    """A malformed LISTEN_FDS is an error each time the snapshot is asked, not only once."""
    body = """
errors = []
for _ in range(2):
    try:
        sd.systemd_activation()
    except ValueError as exc:
        errors.append([exc.variable, exc.errno, str(exc)])
report["errors"] = errors
report["env"] = listen_env()
"""
    report = run_child(body, [tcp(sockets).fileno()], me("3a"))
    expected = ["LISTEN_FDS", errno.EINVAL, "LISTEN_FDS must be a positive integer, got '3a'"]
    assert report["errors"] == [expected, expected]
    assert report["env"] == {}


def test_an_accepted_connection_is_reported_as_a_connection(
    sockets: list[socket.socket],
) -> None:
    """Accept=yes: fd 3 named 'connection' is a connection with REMOTE_ADDR/REMOTE_PORT, not
    a listener."""
    server = tcp(sockets)
    client = socket.create_connection(server.getsockname(), timeout=10)
    sockets.append(client)
    conn, _ = server.accept()
    sockets.append(conn)
    body = "report['act'] = show(sd.systemd_activation())"
    env = {**me("1", "connection"), "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "4711"}
    report = run_child(body, [conn.fileno()], env)
    act = report["act"]
    assert act["remote"] == ["127.0.0.1", 4711]
    (entry,) = act["fds"]
    assert (entry["name"], entry["is_connection"], entry["is_listener"]) == (
        "connection",
        True,
        False,
    )
    assert entry["peer"] == "{}:{}".format(*client.getsockname())


def test_inetd_style_socket_on_stdin_is_a_connection(sockets: list[socket.socket]) -> None:
    """R78a: no LISTEN_* and a connected socket on fd 0 is inetd-style activation."""
    server = tcp(sockets)
    client = socket.create_connection(server.getsockname(), timeout=10)
    sockets.append(client)
    conn, _ = server.accept()
    sockets.append(conn)
    body = "report['act'] = show(sd.systemd_activation())"
    report = run_child(body, [], {}, stdin=conn.fileno())
    act = report["act"]
    assert act["source"] == "inetd"
    (entry,) = act["fds"]
    assert (entry["fd"], entry["name"], entry["kind"], entry["is_connection"]) == (
        0,
        "stdin",
        "tcp",
        True,
    )


def test_a_plain_stdin_is_not_activation() -> None:
    """Without LISTEN_* and with no socket on fd 0, nothing was passed."""
    body = "report['act'] = show(sd.systemd_activation())"
    report = run_child(body, [], {}, stdin=subprocess.DEVNULL)
    assert report["act"]["source"] == ""
    assert report["act"]["fds"] == []


@pytest.mark.parametrize(
    ("trust", "activated"),
    [
        pytest.param(True, True, id="trusted"),
        pytest.param(False, False, id="default-refuses"),
    ],
)
def test_trust_pid1_accepts_listen_pid_1_as_pid_2_in_a_pid_namespace(
    sockets: list[socket.socket], trust: bool, activated: bool
) -> None:
    """Containers: under an init (here sh as PID 1 of a new PID namespace) the app is PID 2
    and LISTEN_PID=1; only trust_pid1=True accepts it."""
    require_root()
    unshare = require_tool("unshare")
    body = f"""
act = sd.systemd_activation(trust_pid1={trust})
report["pid"] = os.getpid()
report["act"] = show(act)
"""
    # sh stays PID 1 (the trailing 'true' keeps it from exec'ing python), python is PID 2.
    prefix = [unshare, "--pid", "--fork", "--mount-proc", "sh", "-c", '"$@"; true', "sh"]
    report = run_child(body, [tcp(sockets).fileno()], me("1", "web", pid="1"), prefix=prefix)
    assert report["pid"] == 2
    act = report["act"]
    assert (act["source"] == "systemd") is activated
    if not activated:
        assert "trust_pid1=True" in act["notes"][0]


def test_a_closed_wrapped_socket_is_not_wrapped_again(sockets: list[socket.socket]) -> None:
    """Closing the wrapped socket closes the inherited fd; asking again names the fd instead of
    wrapping whatever the number now refers to."""
    body = """
entry = sd.systemd_activation().listeners[0]
entry.socket().close()
try:
    entry.socket()
except ValueError as exc:
    report["error"] = [type(exc).__name__, exc.fd, str(exc)]
"""
    report = run_child(body, [tcp(sockets).fileno()], me("1", "web"))
    assert report["error"] == [
        "InheritedSocketError",
        3,
        "fd 3 ('web') was already wrapped and then closed",
    ]
