"""Watch files for ``supervise --watch``: Linux inotify through ctypes, or polling elsewhere.

Chosen by measurement (``benchmarks/watch.py``): inotify tells within about a millisecond of
the write, costs nothing while idle and needs no dependency; polling modification times is
the portable fallback (its latency is its interval, its idle cost grows with the tree);
``watchfiles`` (what uvicorn uses) was measured beside them and is not needed.

A watcher has a ``fileno()`` to wait on (inotify; ``None`` when polling) and a
:meth:`~Watcher.timeout` (polling), and :meth:`~Watcher.changes` returns the paths changed
since the last call. Directories are watched recursively, new subdirectories included. Noise
is ignored: ``__pycache__``, ``.git`` and other VCS directories, compiled files and the swap
and backup files editors write (``.swp``, ``~``, ``4913``...).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["InotifyWatcher", "PollingWatcher", "Watcher", "ignored", "open_watcher"]

# inotify(7) constants
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_IN_ATTRIB = 0x004
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_IGNORED = 0x8000
_IN_ISDIR = 0x40000000
_IN_Q_OVERFLOW = 0x4000
# what counts as a change: a finished write, a rename into place, a new or removed entry
_MASK = _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_MOVED_FROM | _IN_CREATE | _IN_DELETE | _IN_ATTRIB
# struct inotify_event: int wd; uint32_t mask, cookie, len; char name[len]
_EVENT = struct.Struct("iIII")
# enough for many events per read (each is 16 bytes plus a padded name)
_READ_SIZE = 64 * 1024
# directories never worth watching, and file names editors and Python write as by-products
_SKIP_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".venv",
        "node_modules",
        ".tox",
    }
)
_SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".swo", "~", ".tmp")
# default polling interval: latency versus a stat() of every file each time
POLL_INTERVAL = 0.25


def ignored(path: str) -> bool:
    """True for by-products nobody edits (see the module docstring)."""
    name = os.path.basename(path)
    if name in ("4913",) or name.startswith(".#") or name.endswith(_SKIP_SUFFIXES):
        return True
    return any(part in _SKIP_DIRS for part in Path(path).parts)


class Watcher:
    """The interface; see the module docstring."""

    def fileno(self) -> int | None:
        return None

    def timeout(self) -> float | None:
        return None

    def changes(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _existing(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    out = []
    for raw in paths:
        path = os.path.abspath(os.fspath(raw))
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, f"cannot watch {os.fspath(raw)!r}: no such file")
        out.append(path)
    return out


def _directories(root: str) -> Iterable[str]:
    yield root
    for current, dirs, _files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for d in dirs:
            yield os.path.join(current, d)


class InotifyWatcher(Watcher):
    """inotify(7) through ctypes (Linux)."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add.restype = ctypes.c_int
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd: int | None = fd
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory path
        # a file is watched through its directory (an editor's save replaces its inode, which
        # would end a watch on the file itself); only its own name is reported there
        self._files: dict[str, set[str]] = {}  # directory -> file names, when not all
        self._whole: set[str] = set()  # directories watched entirely
        try:
            for path in _existing(paths):
                if os.path.isdir(path):
                    for directory in _directories(path):
                        self._whole.add(directory)
                        self._watch(directory)
                else:
                    parent = os.path.dirname(path)
                    self._files.setdefault(parent, set()).add(os.path.basename(path))
                    self._watch(parent)
        except BaseException:
            self.close()
            raise

    def _watch(self, path: str) -> None:
        assert self._fd is not None
        wd = self._add(self._fd, os.fsencode(path), _MASK | _IN_DELETE_SELF)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR):
                return  # gone meanwhile
            raise OSError(err, f"cannot watch {path!r}: {os.strerror(err)}")
        self._dirs[wd] = path

    def fileno(self) -> int | None:
        return self._fd

    def changes(self) -> list[str]:
        if self._fd is None:
            return []
        out: list[str] = []
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return out
            if not data:
                return out
            out.extend(self._parse(data))

    def _parse(self, data: bytes) -> list[str]:
        out: list[str] = []
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW:
                out.append("<inotify queue overflow>")  # something changed; we lost what
                continue
            if mask & _IN_IGNORED:
                self._dirs.pop(wd, None)
                continue
            base = self._dirs.get(wd)
            if base is None:
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            path = os.path.join(base, name) if name else base
            if base not in self._whole and name not in self._files.get(base, ()):
                continue  # another file next to a watched one
            new_dir = mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO)
            if new_dir and os.path.basename(path) not in _SKIP_DIRS:
                for directory in _directories(path):
                    self._whole.add(directory)
                    self._watch(directory)
            if not ignored(path):
                out.append(path)
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PollingWatcher(Watcher):
    """Modification times and sizes of every file, compared every *interval* seconds."""

    def __init__(
        self, paths: Sequence[str | os.PathLike[str]], *, interval: float = POLL_INTERVAL
    ) -> None:
        self._roots = _existing(paths)
        self.interval = interval
        self._next = time.monotonic() + interval
        self._seen = self._scan()

    def _scan(self) -> dict[str, tuple[int, int]]:
        seen: dict[str, tuple[int, int]] = {}
        for root in self._roots:
            if not os.path.isdir(root):
                with contextlib.suppress(OSError):
                    st = os.stat(root)
                    seen[root] = (st.st_mtime_ns, st.st_size)
                continue
            for current, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
                for name in files:
                    path = os.path.join(current, name)
                    if ignored(path):
                        continue
                    with contextlib.suppress(OSError):
                        st = os.stat(path)
                        seen[path] = (st.st_mtime_ns, st.st_size)
        return seen

    def timeout(self) -> float | None:
        return max(0.0, self._next - time.monotonic())

    def changes(self) -> list[str]:
        if time.monotonic() < self._next:
            return []
        self._next = time.monotonic() + self.interval
        now = self._scan()
        changed = [p for p in now.keys() | self._seen.keys() if now.get(p) != self._seen.get(p)]
        self._seen = now
        return sorted(changed)


def open_watcher(paths: Sequence[str | os.PathLike[str]], *, polling: bool = False) -> Watcher:
    """inotify on Linux, else (or with *polling*) a :class:`PollingWatcher`."""
    if not polling and sys.platform.startswith("linux"):
        return InotifyWatcher(paths)
    return PollingWatcher(paths)
