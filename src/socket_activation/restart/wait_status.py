"""A child's ``os.waitpid`` status in words: ``exited with status 3``, ``was killed by SIGTERM``.

Pure functions over a wait status, shared by everything that reaps the processes it started:
:func:`describe_wait_status` for log lines and errors.
"""

from __future__ import annotations

import os

__all__ = ["describe_wait_status"]


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
