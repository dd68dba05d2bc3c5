"""The ``systemd_activation_env`` fixture: this process socket-activated for a ``with`` block."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from socket_activation import resolve
from socket_activation.systemd.activation import systemd_activation
from socket_activation.testing import Activation

Env = Callable[..., AbstractContextManager[Activation]]


def fd_table() -> dict[int, tuple[int, int, bool]]:
    """Every open fd of this process: (device, inode, inheritable)."""
    table = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            stat = os.fstat(fd)
            table[fd] = (stat.st_dev, stat.st_ino, os.get_inheritable(fd))
        except OSError:
            continue  # the directory listing's own fd
    return table


@pytest.fixture
def occupied() -> Iterator[list[int]]:
    """fds 3, 4 and 5 all open, as pytest's capture files or xdist's channel may hold them:
    the ones nobody had are opened here (on /dev/null, one of them inheritable)."""
    opened: list[int] = []
    extra: list[int] = []
    while not all(_is_open(fd) for fd in (3, 4, 5)):
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        (opened if fd <= 5 else extra).append(fd)
    for fd in extra:
        os.close(fd)
    if opened:
        os.set_inheritable(opened[0], True)
    yield opened
    for fd in opened:
        os.close(fd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_resolve_takes_the_sockets_at_fds_3_on_by_name(systemd_activation_env: Env) -> None:
    """Inside the block resolve() serves what 'systemd' passed: fds 3 and 4, by name."""
    with systemd_activation_env(
        ["127.0.0.1:0", "datagram:127.0.0.1:0"], names=["web", "quic"]
    ) as act:
        assert act.fds == (3, 4)
        assert os.environ["LISTEN_PID"] == str(os.getpid())
        resolution = resolve()
        got = [(s.fd, s.name, s.source, s.kind, s.address) for s in resolution]
        assert got == [
            (3, "web", "systemd", "tcp", act.address("web")),
            (4, "quic", "systemd", "udp", act.address("quic")),
        ]
        host, port = act.address("web").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            conn, _ = resolution.named("web")[0].socket.accept()
            conn.close()
    assert "LISTEN_FDS" not in os.environ
    assert systemd_activation().source == ""  # the snapshot was forgotten, then re-read


def test_fds_in_use_are_moved_away_and_put_back(
    systemd_activation_env: Env, occupied: list[int]
) -> None:
    """What this process had at fds 3.. is back afterwards: same files, same CLOEXEC flag;
    nothing else opened or closed."""
    before = fd_table()
    with systemd_activation_env(["127.0.0.1:0", "[::1]:0", "127.0.0.2:0"]) as act:
        inside = fd_table()
        for fd in act.fds:
            assert inside[fd] != before[fd]
            assert inside[fd][2], "passed fds are inheritable, as systemd passes them"
        assert [s.kind for s in resolve()] == ["tcp", "tcp", "tcp"]
    assert fd_table() == before


def test_a_unix_socket_file_is_removed_and_the_variables_restored(
    systemd_activation_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LISTEN_* that were set before come back; the socket file the block bound is removed."""
    monkeypatch.setenv("LISTEN_FDS", "7")
    path = tmp_path / "app.sock"
    with systemd_activation_env([str(path)], names="api"):
        assert os.environ["LISTEN_FDS"] == "1"
        (only,) = resolve()
        assert (only.name, only.kind, only.address) == ("api", "unix-stream", str(path))
        assert path.exists()
    assert os.environ["LISTEN_FDS"] == "7"
    assert "LISTEN_FDNAMES" not in os.environ
    assert not path.exists()


def test_extra_env_can_make_the_sockets_someone_elses(systemd_activation_env: Env) -> None:
    """LISTEN_PID of another process: not for us, nothing taken, the note says why."""
    with systemd_activation_env(["127.0.0.1:0"], extra_env={"LISTEN_PID": "1"}):
        activation = systemd_activation()
        assert activation.fds == ()
        assert any("LISTEN_PID=1" in note for note in activation.notes), activation.notes


def test_a_socket_the_code_closed_is_not_closed_twice(
    systemd_activation_env: Env, occupied: list[int]
) -> None:
    """The code under test closes a passed socket and opens a file that lands on its fd:
    at the end the file's fd is put back to what it was, never closed behind our back."""
    before = fd_table()
    with systemd_activation_env(["127.0.0.1:0"]):
        (only,) = resolve()
        only.socket.close()
    assert fd_table() == before
