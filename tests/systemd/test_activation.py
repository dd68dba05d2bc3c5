"""The cached snapshot: read once, the same fds for every query, notes, inetd, trust_pid1.

Anything that needs real fds at 3, 4, ... runs in a child (tests/support/activated.py).
"""

from __future__ import annotations

import errno
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_root, require_tool
from tests.support.activated import me, run_child, tcp, udp6, unix


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
