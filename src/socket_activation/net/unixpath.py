"""The life of a Unix socket file: stale check before ``bind()``, ownership after.

A path is replaced only when it holds a *stale socket* (nobody accepting); a regular file,
directory or symlink, or a socket a live server accepts on, is left untouched. The file never
exists with wider permissions than asked. Files are removed only by the process that created
them: :func:`owns_unix_socket`, :func:`remove_unix_socket`, and :func:`forget_unix_socket` for
handing one over to another process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Callable, Iterator

from .._errors import AddressInUseError, UnixPathError
from .address import ListenAddress, Transport

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from .options import BindOptions

__all__ = ["bind_unix_path", "forget_unix_socket", "owns_unix_socket", "remove_unix_socket"]

# Unix socket files this process created: path -> (st_dev, st_ino). Only these are removed.
_CREATED: dict[str, tuple[int, int]] = {}
# Parent directories created for a socket file (DirectoryMode=), deepest first
_CREATED_DIRS: dict[str, list[str]] = {}


def bind_unix_path(sock: socket.socket, address: ListenAddress, opts: BindOptions) -> None:
    """Bind *sock* to the path of *address*: clear a stale file, restrict the mode, own it."""
    path = str(address.path)
    made = _make_parents(path, opts.directory_mode) if opts.directory_mode is not None else []
    try:
        _clear_stale(path, address)
        with _restricted_mode(sock, opts.socket_mode):
            sock.bind(path)
    except BaseException:
        _remove_dirs(made)
        raise
    _CREATED_DIRS[path] = made
    try:
        st = os.lstat(path)
        _CREATED[path] = (st.st_dev, st.st_ino)
        os.chmod(path, opts.socket_mode)
        if opts.socket_user or opts.socket_group:
            _chown(path, opts.socket_user, opts.socket_group)
    except BaseException:
        remove_unix_socket(path, created_dirs=True)
        raise


def _make_parents(path: str, mode: int) -> list[str]:
    """Create the missing parents of *path* with *mode*; the ones made, deepest first."""
    missing: list[str] = []
    parent = os.path.dirname(path)
    while parent and parent != "/" and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    if missing:
        os.makedirs(missing[0], mode=mode, exist_ok=True)
    return missing


def _remove_dirs(directories: list[str]) -> None:
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:
            return  # not empty (someone else's file now) or already gone: stop there


@contextlib.contextmanager
def _restricted_mode(sock: socket.socket, mode: int) -> Iterator[None]:
    """Make ``bind()`` create the socket file no wider than *mode*.

    Linux creates the file with the socket inode's mode minus the umask, so ``fchmod`` on the
    unbound socket is enough and thread-safe. Where that fails (macOS), the process umask is
    narrowed around ``bind()`` instead.
    """
    try:
        os.fchmod(sock.fileno(), mode)
    except OSError:
        narrowed = True
        old = os.umask(0o777 & ~mode)
    else:
        narrowed = False  # created as mode & ~umask: never wider than mode
    try:
        yield
    finally:
        if narrowed:
            os.umask(old)


def _clear_stale(path: str, address: ListenAddress) -> None:
    """Remove a stale socket file at *path*; refuse anything else that is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        what = "a symbolic link"
    elif stat.S_ISDIR(st.st_mode):
        what = "a directory"
    elif stat.S_ISREG(st.st_mode):
        what = "a regular file"
    elif not stat.S_ISSOCK(st.st_mode):
        what = "not a socket"
    else:
        what = ""
    if what:
        raise UnixPathError(
            errno.EEXIST,
            f"cannot listen on {path}: the path is {what}; refusing to remove it",
            address=str(address),
        )
    probe_type = socket.SOCK_STREAM if address.transport is Transport.STREAM else None
    if _socket_is_live(path, probe_type):
        raise AddressInUseError(
            errno.EADDRINUSE,
            f"address {path} is already in use — another server is accepting on it",
            address=str(address),
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _socket_is_live(path: str, probe_type: int | None) -> bool:
    """True when some process is bound and serving on the socket file at *path*."""
    for stype in (probe_type,) if probe_type else (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        with socket.socket(socket.AF_UNIX, stype) as probe:
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                continue  # nobody bound: stale
            except OSError as exc:
                if exc.errno == errno.EPROTOTYPE:  # a live socket of another type
                    return True
                continue
            return True
    return False


def _chown(path: str, user: str | None, group: str | None) -> None:
    import grp
    import pwd

    try:
        uid = _owner_id(user, pwd.getpwnam, "pw_uid")
        gid = _owner_id(group, grp.getgrnam, "gr_gid")
    except KeyError as exc:
        raise UnixPathError(
            errno.EINVAL, f"cannot give {path} to {exc.args[0]}: no such user or group"
        ) from None
    os.chown(path, uid, gid)


def _owner_id(name: str | None, lookup: Callable[[str], object], attribute: str) -> int:
    """-1 (unchanged) for None, a number as itself (SocketUser=0), else the entry's id."""
    if not name:
        return -1
    if name.isdigit():
        return int(name)
    try:
        entry = lookup(name)
    except KeyError:
        raise KeyError(repr(name)) from None
    value: int = getattr(entry, attribute)
    return value


def owns_unix_socket(path: str) -> bool:
    """True when *path* is the socket file this process created and it is still there."""
    recorded = _CREATED.get(path)
    if recorded is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == recorded


def remove_unix_socket(path: str, *, created_dirs: bool = False) -> bool:
    """Unlink *path* if it is the socket file this process created; True when removed.

    ``created_dirs=True`` (a failed bind undoing itself) also removes the parent directories
    created for it, while they are empty.
    """
    made = _CREATED_DIRS.pop(path, [])
    if not owns_unix_socket(path):
        _CREATED.pop(path, None)
        return False
    _CREATED.pop(path, None)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    if created_dirs:
        _remove_dirs(made)
    return True


def forget_unix_socket(path: str) -> None:
    """Give up ownership of *path* (it was handed to another process): never remove it."""
    _CREATED.pop(path, None)
    _CREATED_DIRS.pop(path, None)
