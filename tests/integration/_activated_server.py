"""A tiny activated server for the systemd-socket-activate tests.

``python _activated_server.py REPORT_PATH [FD,FD,...]`` reads the activation snapshot, writes it
as JSON to REPORT_PATH (atomically), then answers once on each listed fd through the wrapped
socket: accepts and greets on a listening stream socket, greets on a connection, echoes a
datagram. Nothing is written to stdout: under --inetd it is the socket.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

from socket_activation.net.sockinfo import SocketInfo
from socket_activation.systemd import activation as _systemd

TIMEOUT = 10.0  # seconds to wait for the test's traffic before giving up


def snapshot() -> dict[str, Any]:
    try:
        act = _systemd.systemd_activation()
    except ValueError as exc:
        return {"error": str(exc)}
    return {
        "pid": os.getpid(),
        "source": act.source,
        "notes": list(act.notes),
        "remote": [act.remote_addr, act.remote_port],
        "env": {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")},
        "fds": [describe(entry) for entry in act.fds],
    }


def describe(entry: _systemd.InheritedFd) -> dict[str, Any]:
    out: dict[str, Any] = {
        "fd": entry.fd,
        "name": entry.name,
        "kind": entry.kind,
        "is_connection": entry.is_connection,
    }
    if isinstance(entry.info, SocketInfo):
        out["family"] = entry.info.family.name
        out["listening"] = entry.info.listening
        out["address"] = entry.info.address
        out["peer"] = entry.info.peer
    else:
        out["what"] = entry.info
    return out


def serve(fd: int) -> None:
    act = _systemd.systemd_activation()
    (entry,) = [e for e in act.fds if e.fd == fd]
    sock = entry.socket()
    sock.settimeout(TIMEOUT)
    greeting = f"hello {entry.name}\n".encode()
    if entry.is_connection:
        sock.sendall(greeting)
    elif sock.type == socket.SOCK_DGRAM:
        data, peer = sock.recvfrom(4096)
        sock.sendto(greeting + data, peer)
    else:
        conn, _ = sock.accept()
        with conn:
            conn.sendall(greeting)


def main() -> None:
    report_path = sys.argv[1]
    report = snapshot()
    with open(report_path + ".tmp", "w") as out:
        json.dump(report, out)
    os.rename(report_path + ".tmp", report_path)
    if len(sys.argv) > 2 and "error" not in report:
        for fd in sys.argv[2].split(","):
            serve(int(fd))


if __name__ == "__main__":
    main()
