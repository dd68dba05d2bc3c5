"""What the plugin raises when the process under test misbehaves.

::

    ServerError                    (Exception) the process under test failed; ``stderr`` is the
    │                              tail of what it wrote there
    ├── ServerExitedError          it exited before READY=1 (``returncode``)
    ├── ServerNotReadyError        (also TimeoutError) no READY=1 in time; it is left running
    └── ReloadError                a reload or restart did not bring up a ready process
"""

from __future__ import annotations

__all__ = ["ReloadError", "ServerError", "ServerExitedError", "ServerNotReadyError"]


class ServerError(Exception):
    """The process under test failed; the message ends with the tail of its stderr."""

    def __init__(self, message: str, *, stderr: str = "") -> None:
        self.stderr = stderr
        text = message
        if stderr.strip():
            text += "\n--- the tail of its stderr ---\n" + stderr.rstrip("\n")
        else:
            text += " (it wrote nothing to stderr)"
        super().__init__(text)


class ServerExitedError(ServerError):
    """It exited before ``READY=1``; ``returncode`` as in :mod:`subprocess` (``-N``: signal N)."""

    def __init__(self, message: str, *, returncode: int, stderr: str = "") -> None:
        self.returncode = returncode
        super().__init__(message, stderr=stderr)


class ServerNotReadyError(ServerError, TimeoutError):
    """No ``READY=1`` within the timeout; the process is still running (teardown ends it)."""


class ReloadError(ServerError):
    """A reload (``supervise`` rollout) or restart did not end with a ready process."""
