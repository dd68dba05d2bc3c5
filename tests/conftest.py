"""Shared test helpers: tool requirements that fail under CI=true instead of skipping."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip the test when *condition* is false; under ``CI=true`` fail it instead.

    A green CI therefore means every integration test ran.
    """
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for this test under CI=true: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of executable *name*, or skip (fail under CI) when it is missing."""
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def require_root() -> None:
    """Skip (fail under CI) unless running as root."""
    require(os.geteuid() == 0, "needs root")
