"""A child's ``os.waitpid`` status in words: ``exited with status 3``, ``was killed by SIGTERM``.

Pure functions over a wait status, shared by everything that reaps the processes it started:
:func:`describe_wait_status` for log lines and errors, :func:`exit_code` for the status a
supervisor exits with.
"""

from __future__ import annotations

import os

__all__ = ["describe_wait_status", "exit_code"]


def describe_wait_status(status: int) -> str:
    """``exited with status 3`` / ``was killed by SIGSEGV`` for an ``os.waitpid`` status."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            import signal

            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"was killed by {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def exit_code(status: int) -> int:
    """The shell's view of a wait status: the exit status, or 128 + N for death by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
