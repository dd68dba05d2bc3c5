"""Fixtures the systemd tests share: a manager's notify socket, short temp dirs, sockets."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.notify_manager import FakeManager, abstract_manager, path_manager


@pytest.fixture(params=["path", "abstract"])
def manager(request: pytest.FixtureRequest) -> Iterator[FakeManager]:
    """The manager's socket, once at a filesystem path and once at an abstract name."""
    yield from (path_manager() if request.param == "path" else abstract_manager())


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
