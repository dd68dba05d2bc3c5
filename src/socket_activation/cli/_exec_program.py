"""How ``exec`` hands its sockets to the program: exec it, or (``Accept=yes``) serve it per
connection; and what a program that cannot run ends in.

A program that cannot be executed ends as a shell ends it: a message naming the command, exit
status 127 when it is not found, 126 when it is found but cannot be run (not executable, a
directory, no interpreter); the sockets are closed and the socket files removed first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence

from .._resolution import Resolution, ResolvedSocket
from ..restart.accept import serve_connections
from ..restart.spawn import SD_LISTEN_FDS_START, exec_with_sockets

__all__ = ["EXIT_CANNOT_EXECUTE", "EXIT_NOT_FOUND", "accept_settings", "exec_program"]

EXIT_NOT_FOUND = 127  # sh(1), bash: command not found
EXIT_CANNOT_EXECUTE = 126  # sh(1), bash: found but not executable


def accept_settings(resolution: Resolution) -> int | None:
    """``MaxConnections=`` when the sockets are ``Accept=yes`` sockets bound here, else None."""
    specs = [s.spec for s in resolution.sockets if not s.inherited and s.spec is not None]
    accepting = [spec for spec in specs if spec.accept]
    if not accepting:
        return None
    return min(spec.max_connections for spec in accepting)


def exec_program(
    command: Sequence[str],
    sockets: Sequence[ResolvedSocket],
    resolution: Resolution,
    env: Mapping[str, str],
) -> int:
    """Run *command* with *sockets* (of *resolution*, which is closed if it cannot run);
    returns the exit status when it cannot run (exec does not return otherwise) or when the
    per-connection server stops."""
    verb = "exec"
    max_connections = accept_settings(resolution)
    if max_connections is not None:
        listeners = [s.socket for s in sockets]
        log = _printer(verb)
        problem = _runnable(command, env)
        if problem is not None:
            return _cannot_run(command, problem, resolution, verb, 0)
        try:
            return serve_connections(listeners, command, env, max_connections=max_connections,
                                     log=log)  # fmt: skip
        except OSError as exc:
            return _cannot_run(command, exc, resolution, verb, 0)
        finally:
            resolution.close()
    try:
        exec_with_sockets(command, [s.fd for s in sockets], [s.name for s in sockets], env)
    except OSError as exc:
        return _cannot_run(command, exc, resolution, verb, len(sockets))
    return EXIT_NOT_FOUND  # pragma: no cover - execvpe returns only by raising


def _cannot_run(
    command: Sequence[str], exc: OSError, resolution: Resolution, verb: str, placed: int
) -> int:
    resolution.close()
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + placed):
        with contextlib.suppress(OSError):
            os.close(fd)  # the copies exec_with_sockets placed at 3..
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        reason = "command not found" if "/" not in command[0] else reason
        status = EXIT_NOT_FOUND
    else:
        status = EXIT_CANNOT_EXECUTE
    print(f"socket-activation {verb}: {command[0]}: {reason}", file=sys.stderr)
    return status


def _printer(verb: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(f"socket-activation {verb}: {message}", file=sys.stderr, flush=True)

    return log


def _runnable(command: Sequence[str], env: Mapping[str, str]) -> OSError | None:
    """Why *command* cannot be started (as execvp would find it), or None."""
    program = command[0]
    if "/" not in program:
        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found is None:
            return FileNotFoundError(errno.ENOENT, "command not found", program)
        program = found
    if not os.path.exists(program):
        return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    if os.path.isdir(program) or not os.access(program, os.X_OK):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    return None
