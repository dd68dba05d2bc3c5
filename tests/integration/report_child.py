"""A child process that reports, as JSON, the fds and LISTEN_* variables it was given.

Run by systemd units, ``systemd-socket-activate`` and ``exec`` tests alike::

    python report_child.py OUTPUT.json [--fds 0,3] [--stay]

It describes fds 3..3+LISTEN_FDS-1 (or the ``--fds`` list) without changing them and writes
``OUTPUT.json`` atomically (a temp file renamed into place, so a reader polling for the file
never sees half a report)::

    {"pid": 1234, "argv": [...],
     "env": {"LISTEN_PID": "1234", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "web:metrics"},
     "fds": [{"fd": 3, "name": "web", "family": "AF_INET", "type": "SOCK_STREAM",
              "kind": "tcp", "listening": true, "address": "127.0.0.1:8080",
              "inheritable": true, "error": null}, ...]}

A missing variable is ``null``; an fd that is not a socket has ``error`` set (and null socket
fields). ``address`` is canonical (``socket_activation.net.sockinfo.format_sockaddr`` when the
package is importable; ``"sockinfo": true`` says it was). With ``--stay`` the child then
sleeps until SIGTERM, for services that must stay active. Only the standard library is
required.

Tests import :func:`report_command` and :func:`read_report` from here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["ENV_KEYS", "SCRIPT", "describe", "read_report", "report_command", "main"]

SCRIPT = Path(__file__).resolve()
ENV_KEYS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
SD_LISTEN_FDS_START = 3  # the first passed fd, by the protocol


def _have_sockinfo() -> bool:
    try:
        import socket_activation.net.sockinfo  # noqa: F401
    except ImportError:
        return False
    return True


def _format_sockaddr(family: int, addr: object) -> str:
    try:
        from socket_activation.net.sockinfo import format_sockaddr
    except ImportError:  # run by an interpreter without the package
        if family == socket.AF_INET6 and isinstance(addr, tuple):
            return f"[{addr[0]}]:{addr[1]}"
        if family == socket.AF_INET and isinstance(addr, tuple):
            return f"{addr[0]}:{addr[1]}"
        if isinstance(addr, bytes):
            return "@" + addr[1:].decode() if addr[:1] == b"\0" else addr.decode()
        return str(addr)
    return format_sockaddr(family, addr)


def _kind(family: int, type_: int) -> str:
    try:
        from socket_activation.net.sockinfo import kind_of
    except ImportError:
        names: dict[tuple[int, int], str] = {
            (socket.AF_INET, socket.SOCK_STREAM): "tcp",
            (socket.AF_INET6, socket.SOCK_STREAM): "tcp",
            (socket.AF_INET, socket.SOCK_DGRAM): "udp",
            (socket.AF_INET6, socket.SOCK_DGRAM): "udp",
            (socket.AF_UNIX, socket.SOCK_STREAM): "unix-stream",
            (socket.AF_UNIX, socket.SOCK_DGRAM): "unix-dgram",
            (socket.AF_UNIX, socket.SOCK_SEQPACKET): "unix-seqpacket",
        }
        return names.get((family, type_), f"{family}/{type_}")
    return kind_of(family, type_)


def describe(fd: int, name: str | None) -> dict[str, Any]:
    """One fd's entry of the report; the fd is neither closed nor changed."""
    entry: dict[str, Any] = {
        "fd": fd,
        "name": name,
        "family": None,
        "type": None,
        "kind": None,
        "listening": None,
        "address": None,
        "inheritable": None,
        "error": None,
    }
    try:
        mode = os.fstat(fd).st_mode
        entry["inheritable"] = os.get_inheritable(fd)
    except OSError as exc:
        entry["error"] = f"not open ({exc.strerror})"
        return entry
    if not stat.S_ISSOCK(mode):
        entry["error"] = f"not a socket (mode {mode:o})"
        return entry
    sock = socket.socket(fileno=fd)
    try:
        family, type_ = sock.family, sock.type
        entry["family"] = socket.AddressFamily(family).name
        entry["type"] = socket.SocketKind(type_).name
        entry["kind"] = _kind(family, type_)
        entry["listening"] = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        entry["address"] = _format_sockaddr(family, sock.getsockname())
    finally:
        sock.detach()
    return entry


def build_report(fds: list[int] | None) -> dict[str, Any]:
    """The report for this process: pid, argv, LISTEN_* and the description of each fd."""
    env = {key: os.environ.get(key) for key in ENV_KEYS}
    if fds is None:
        try:
            count = int(env["LISTEN_FDS"] or "0")
        except ValueError:
            count = 0
        fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))
    names = (env["LISTEN_FDNAMES"] or "").split(":") if env["LISTEN_FDNAMES"] else []
    entries = []
    for index, fd in enumerate(fds):
        name = names[index] if index < len(names) else None
        entries.append(describe(fd, name))
    return {
        "pid": os.getpid(),
        "argv": sys.argv,
        "env": env,
        "fds": entries,
        "sockinfo": _have_sockinfo(),
    }


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to *path* via a temp file and rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def report_command(output: Path, *options: str) -> list[str]:
    """argv running this script with the test's interpreter (which can import the package)."""
    return [sys.executable, str(SCRIPT), str(output), *options]


def read_report(path: Path, timeout: float = 10) -> dict[str, Any]:
    """Wait (bounded) for the report at *path* and parse it."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no report at {path} after {timeout} s")
        time.sleep(0.02)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def main(argv: list[str]) -> int:
    """``report_child.py OUTPUT [--fds N,N...] [--stay]``."""
    args = list(argv)
    stay = "--stay" in args
    if stay:
        args.remove("--stay")
    fds: list[int] | None = None
    if "--fds" in args:
        at = args.index("--fds")
        fds = [int(n) for n in args[at + 1].split(",") if n]
        del args[at : at + 2]
    if len(args) != 1:
        print("usage: report_child.py OUTPUT [--fds N,N...] [--stay]", file=sys.stderr)
        return 2
    write_atomically(Path(args[0]), build_report(fds))
    if stay:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
