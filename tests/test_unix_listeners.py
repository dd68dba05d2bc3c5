"""Unix socket listeners: nothing lost at the path, modes never wider than asked."""

from __future__ import annotations

import errno
import os
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation import (
    AddressInUseError,
    ServerConfig,
    UnixPathError,
    cleanup_unix_socket,
    create_listener,
    create_listeners,
)
from socket_activation.net.bind import forget_unix_socket


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temp dir with a short path (sun_path holds 107 bytes)."""
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp", prefix="sa-") as d:
        yield Path(d)


def test_unix_listener_binds_the_path_with_the_configured_mode(short_dir: Path) -> None:
    """A Unix listener listens at config.uds with mode 0660 by default."""
    path = short_dir / "app.sock"
    with create_listener(ServerConfig(uds=str(path))) as sock:
        assert sock.family == socket.AF_UNIX
        assert sock.getsockname() == str(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o666])
def test_socket_file_mode_comes_from_config(short_dir: Path, mode: int) -> None:
    """socket_mode sets the file's permissions exactly."""
    path = short_dir / "m.sock"
    with create_listener(ServerConfig(uds=str(path), socket_mode=mode)):
        assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_socket_file_never_exists_wider_than_asked(short_dir: Path) -> None:
    """Under a permissive umask the file is still created no wider than the mode.

    The socket is observed right after bind() and before chmod by binding through the
    primitive with a watcher: the mode at creation is what fchmod-before-bind gave.
    """
    path = short_dir / "u.sock"
    old = os.umask(0)
    try:
        sock = socket.socket(socket.AF_UNIX)
        from socket_activation.net.unixpath import _restricted_mode

        with sock:
            with _restricted_mode(sock, 0o600):
                sock.bind(str(path))
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)


def test_stale_socket_is_replaced(short_dir: Path) -> None:
    """A socket file nobody accepts on (a crashed server's) is removed and rebound."""
    path = short_dir / "stale.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # file stays, nobody listening
    assert path.exists()
    with create_listener(ServerConfig(uds=str(path))) as sock:
        assert sock.getsockname() == str(path)


def test_live_socket_is_left_untouched(short_dir: Path) -> None:
    """A socket another server accepts on -> AddressInUseError, and the file stays."""
    path = short_dir / "live.sock"
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(path))
        live.listen()
        inode = os.stat(path).st_ino
        with pytest.raises(AddressInUseError) as info:
            create_listener(ServerConfig(uds=str(path)))
        assert info.value.errno == errno.EADDRINUSE
        assert str(path) in str(info.value)
        assert os.stat(path).st_ino == inode
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))  # still served by the live server


@pytest.mark.parametrize("what", ["regular file", "directory", "symbolic link"])
def test_non_socket_at_path_is_refused_and_kept(short_dir: Path, what: str) -> None:
    """A regular file, directory or symlink at the path is an error; it is not removed."""
    path = short_dir / "thing"
    target = short_dir / "target.txt"
    target.write_text("precious")
    if what == "regular file":
        path.write_text("precious")
    elif what == "directory":
        path.mkdir()
    else:
        path.symlink_to(target)
    with pytest.raises(UnixPathError, match=f"the path is a {what}; refusing to remove it") as e:
        create_listener(ServerConfig(uds=str(path)))
    assert e.value.errno == errno.EEXIST
    assert os.path.lexists(path)
    assert target.read_text() == "precious"


def test_overlong_path_is_a_clear_error() -> None:
    """A path over the 107-byte sun_path limit is rejected when the config is made."""
    with pytest.raises(ValueError, match="107-byte limit"):
        ServerConfig(uds="/tmp/" + "x" * 110)


def test_abstract_socket_is_never_a_file() -> None:
    """An @name binds in the abstract namespace; cleanup has nothing to unlink."""
    name = f"@sa-test-{uuid.uuid4().hex}"
    config = ServerConfig(uds=name)
    with create_listener(config) as sock:
        assert sock.getsockname() == b"\0" + name[1:].encode()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect("\0" + name[1:])
        cleanup_unix_socket(config)  # must not fail nor touch anything


def test_unix_socket_is_one_socket_for_every_worker(short_dir: Path) -> None:
    """create_listeners on a Unix socket returns one socket count times (no SO_REUSEPORT)."""
    socks = create_listeners(ServerConfig(uds=str(short_dir / "w.sock")), 3)
    try:
        assert len({s.fileno() for s in socks}) == 1
        assert socks[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    finally:
        socks[0].close()


def test_cleanup_removes_only_the_file_this_process_created(short_dir: Path) -> None:
    """cleanup_unix_socket removes our socket file, but not one replaced by someone else."""
    path = short_dir / "c.sock"
    config = ServerConfig(uds=str(path))
    sock = create_listener(config)
    sock.close()
    cleanup_unix_socket(config)
    assert not path.exists()

    sock = create_listener(config)
    sock.close()
    path.unlink()
    path.write_text("someone else's file")
    cleanup_unix_socket(config)
    assert path.read_text() == "someone else's file"


def test_a_handed_over_socket_file_is_never_removed(short_dir: Path) -> None:
    """After forget_unix_socket (handoff), cleanup leaves the file for the new owner."""
    path = short_dir / "h.sock"
    config = ServerConfig(uds=str(path))
    with create_listener(config):
        forget_unix_socket(str(path))
        cleanup_unix_socket(config)
        assert path.exists()
