"""Child process for the differential tests: runs libsystemd's and our listen_fds on one case.

Reads one JSON case per line on stdin and answers one JSON line per case on stdout:
``{"oracle": REPORT, "ours": REPORT}``. Each implementation runs in its own forked child, so
each sees a fresh C environment, its own pid (libsystemd compares LISTEN_PID with getpid())
and freshly laid-out fds 3..N. A case is::

    {"env": {"LISTEN_PID": "{pid}", ...},   # "{pid}" / "{pidhex}" / "{ppid}" are substituted
     "layout": ["tcp", "udp", "unix", "null", "file", "closed", "cloexec"],  # fds 3, 4, ...
     "func": "with_names" | "fds",
     "unset": true | false}

A REPORT has the result (``[[fd, name], ...]`` or ``[fd, ...]``) or the errno, the CLOEXEC
state of each laid-out fd afterwards (None when closed), and LISTEN_* as seen afterwards in the
C environment (ctypes getenv) and in ``os.environ``.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import socket
import sys
from typing import Any

import systemd.daemon

from socket_activation._errors import ActivationError
from socket_activation.systemd import activation as _systemd

VARIABLES = ("LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES")
REPORT_FD = 900  # far above any fd a case lays out, so LISTEN_FDS loops never reach it
_libc = ctypes.CDLL(None)
_libc.getenv.restype = ctypes.c_char_p
_libc.getenv.argtypes = [ctypes.c_char_p]


def _open(kind: str) -> int | None:
    """Open one fd of *kind* (inheritable, i.e. CLOEXEC clear, as a manager passes it)."""
    if kind == "closed":
        return None
    if kind in ("tcp", "cloexec"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    elif kind == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
    elif kind == "unix":
        sock, other = socket.socketpair()
        other.close()
    elif kind == "null":
        return os.open(os.devnull, os.O_RDWR)
    elif kind == "file":
        return os.memfd_create("not-a-socket", 0)
    else:
        raise ValueError(f"unknown fd kind {kind!r}")
    return sock.detach()


def _lay_out(layout: list[str]) -> None:
    staged = []
    for index, kind in enumerate(layout):
        fd = _open(kind)
        if fd is not None:
            os.dup2(fd, 500 + index)
            os.close(fd)
            staged.append((500 + index, 3 + index, kind))
    for high, target, kind in staged:
        os.dup2(high, target, inheritable=kind != "cloexec")
        os.close(high)


def _substitute(value: str) -> str:
    pid = os.getpid()
    return (
        value.replace("{pid}", str(pid))
        .replace("{pidhex}", hex(pid))
        .replace("{ppid}", str(os.getppid()))
    )


def _run(case: dict[str, Any], impl: str) -> dict[str, Any]:
    _lay_out(case["layout"])
    for name in VARIABLES:
        os.environ.pop(name, None)
    for name, value in case["env"].items():
        os.environ[name] = _substitute(value)
    given = {name: os.environ.get(name) for name in VARIABLES}
    with_names = case["func"] == "with_names"
    report: dict[str, Any] = {"result": None, "errno": None}
    try:
        if impl == "oracle":
            func = systemd.daemon.listen_fds_with_names if with_names else systemd.daemon.listen_fds
        else:
            func = _systemd.listen_fds_with_names if with_names else _systemd.listen_fds
        result = func(case["unset"])
        report["result"] = sorted(result.items()) if isinstance(result, dict) else list(result)
    except OSError as exc:
        report["errno"] = exc.errno
    except ActivationError as exc:
        report["errno"] = exc.errno
        report["message"] = str(exc)
    cloexec: list[bool | None] = []
    for fd in range(3, 3 + len(case["layout"])):
        try:
            cloexec.append(bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))
        except OSError:
            cloexec.append(None)
    report["cloexec"] = cloexec
    c_env = {name: _libc.getenv(name.encode()) for name in VARIABLES}
    report["c_env"] = {
        k: None if v is None else v.decode("utf-8", "surrogateescape") for k, v in c_env.items()
    }
    report["py_env"] = {name: os.environ.get(name) for name in VARIABLES}
    report["pid"] = os.getpid()
    report["given"] = given
    return report


def _fork_and_run(case: dict[str, Any], impl: str) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        status = 0
        try:
            os.close(read_end)
            os.dup2(write_end, REPORT_FD)
            os.closerange(3, REPORT_FD)
            payload = json.dumps(_run(case, impl)).encode()
        except BaseException as exc:  # report anything, never fall back into the loop
            payload = json.dumps({"crash": repr(exc)}).encode()
            status = 1
        with os.fdopen(REPORT_FD, "wb") as out:
            out.write(payload)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    os.waitpid(child, 0)
    return dict(json.loads(data))


def main() -> None:
    for line in sys.stdin:
        case = json.loads(line)
        answer = {impl: _fork_and_run(case, impl) for impl in ("oracle", "ours")}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
