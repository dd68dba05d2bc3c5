"""Fixtures for the real-podman tests: podman with this machine's settings, the project's image.

``podman`` (session) skips without root, podman or runc (fails under ``CI=true``). ``image``
(session) builds packaging/container/Containerfile once on the Debian base image (made with
mmdebstrap on first use, then kept: it is the one image left behind) and removes it at the end.
``container`` gives each test a unique container name and removes that container afterwards.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.podman import (
    Podman,
    built_image,
    ensure_base_image,
    require_podman,
    unique_name,
)


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    require_podman()
    with tempfile.TemporaryDirectory(prefix="sa-podman-") as state:
        yield Podman(Path(state))


@pytest.fixture(scope="session")
def image(podman: Podman) -> Iterator[str]:
    """The project's image: its wheel and dependencies from this checkout, no network."""
    with tempfile.TemporaryDirectory(prefix="sa-base-") as work:
        ensure_base_image(podman, Path(work))
    with built_image(podman, sys.executable) as name:
        yield name


@pytest.fixture
def container(podman: Podman) -> Iterator[str]:
    """A container name for this test; the container is removed afterwards if still there."""
    name = unique_name("ctr")
    yield name
    podman.remove_container(name)
