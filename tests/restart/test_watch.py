"""The file watchers of ``supervise --watch``, on a real directory tree."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socket_activation.restart.watch import (
    InotifyWatcher,
    PollingWatcher,
    Watcher,
    ignored,
    open_watcher,
)


def wait_changes(watcher: Watcher, timeout: float = 5.0) -> list[str]:
    """Everything reported until a quiet 50 ms after the first report (or *timeout*)."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        fd = watcher.fileno()
        if fd is not None:
            select.select([fd], [], [], 0.05)
        else:
            time.sleep(min(0.05, watcher.timeout() or 0.05))
        now = watcher.changes()
        if not now and seen:
            return seen
        seen.extend(now)
    return seen


def save(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture(params=["inotify", "polling"])
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Watcher]]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "app.py").write_text("A = 1\n")
    if request.param == "inotify":
        watcher: Watcher = InotifyWatcher([tmp_path])
    else:
        watcher = PollingWatcher([tmp_path], interval=0.05)
    with watcher:
        yield tmp_path, watcher


def test_an_edit_in_place_and_a_save_by_rename_are_seen(tree: tuple[Path, Watcher]) -> None:
    root, watcher = tree
    (root / "pkg" / "app.py").write_text("A = 2\n")
    assert str(root / "pkg" / "app.py") in wait_changes(watcher)
    save(root / "pkg" / "app.py", "A = 3\n")
    assert str(root / "pkg" / "app.py") in wait_changes(watcher)


def test_files_in_a_new_directory_are_seen(tree: tuple[Path, Watcher]) -> None:
    root, watcher = tree
    (root / "new").mkdir()
    wait_changes(watcher, timeout=0.3)
    (root / "new" / "mod.py").write_text("B = 1\n")
    assert str(root / "new" / "mod.py") in wait_changes(watcher)


def test_by_products_are_not_changes(tree: tuple[Path, Watcher]) -> None:
    root, watcher = tree
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (root / "pkg" / ".app.py.swp").write_text("x")
    (root / "pkg" / "app.py~").write_text("x")
    assert wait_changes(watcher, timeout=0.5) == []


def test_ignored_names() -> None:
    assert ignored("/a/__pycache__/x.pyc")
    assert ignored("/a/.git/index")
    assert ignored("/a/4913")
    assert ignored("/a/.#app.py")
    assert not ignored("/a/app.py")
    assert not ignored("/a/settings.toml")


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cannot watch '.*nothing-here'"):
        open_watcher([tmp_path / "nothing-here"])
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        PollingWatcher([tmp_path / "nothing-here"])


def test_a_single_file_stays_watched_across_saves_by_rename(tmp_path: Path) -> None:
    """Each save replaces the file's inode; the watch survives, and its neighbours are quiet."""
    target = tmp_path / "settings.toml"
    target.write_text("a = 1\n")
    with open_watcher([target]) as watcher:
        for value in (2, 3):
            save(target, f"a = {value}\n")
            assert str(target) in wait_changes(watcher)
        (tmp_path / "other.toml").write_text("b = 1\n")
        assert wait_changes(watcher, timeout=0.5) == []
