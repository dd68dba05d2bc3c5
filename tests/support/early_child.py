"""A generation for the early-start tests: reports what it was given, then serves or waits.

    python early_child.py DIR [--ready] [--stay]

Writes ``DIR/report-PID.json`` atomically: its pid and parent pid, its whole environment, its
blocked-signal mask (``SigBlk`` of /proc/self/status, hex) and, for fds 3..3+LISTEN_FDS-1, the
socket family, type, address and whether it listens. ``--ready`` then sends ``READY=1`` to
``NOTIFY_SOCKET``; ``--stay`` waits for SIGTERM (exit 0) before exiting. Standard library only
(and the package for READY=1).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path


def _sigblk() -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return line.split()[1]
    return ""


def _fds() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for fd in range(3, 3 + int(os.environ.get("LISTEN_FDS", "0"))):
        sock = socket.socket(fileno=fd)
        try:
            out.append(
                {
                    "fd": fd,
                    "family": sock.family.name,
                    "type": sock.type.name,
                    "address": str(sock.getsockname()),
                    "listening": sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1,
                }
            )
        finally:
            sock.detach()
    return out


def main() -> int:
    out_dir = Path(sys.argv[1])
    flags = set(sys.argv[2:])
    report = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "env": dict(os.environ),
        "sigblk": _sigblk(),
        "fds": _fds(),
    }
    tmp = out_dir / f".report-{os.getpid()}.tmp"
    tmp.write_text(json.dumps(report))
    tmp.rename(out_dir / f"report-{os.getpid()}.json")
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    if "--ready" in flags:
        from socket_activation import notify

        notify("READY=1")
    if "--stay" in flags:
        deadline = time.monotonic() + 60  # bounded: a test that forgot us does not leave us
        while not stop and time.monotonic() < deadline:
            time.sleep(0.02)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
