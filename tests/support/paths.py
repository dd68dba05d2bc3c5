"""Where things are: the test tree and the repository, for tests that run programs by path."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
