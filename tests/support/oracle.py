"""python-systemd's ``systemd.daemon``, the oracle for the drop-in: libsystemd 252 itself."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tests.conftest import require


def systemd_daemon() -> ModuleType:
    """The real ``systemd.daemon``; skips (fails under ``CI=true``) when it is not installed."""
    try:
        from systemd import daemon
    except ImportError:
        require(False, "systemd-python (libsystemd's binding, the oracle) is not installed")
        raise
    assert isinstance(daemon, ModuleType)
    return daemon


def outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a caller can tell apart: the result, or the exception's type, errno and filename."""
    try:
        return ("returned", function(*args, **kwargs))
    except Exception as exc:
        return ("raised", type(exc), getattr(exc, "errno", None), getattr(exc, "filename", None))
