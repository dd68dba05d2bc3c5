"""Child for tests/integration/test_daemon_namespaces.py: booted() and is_mq() on real mounts.

Runs as root in private mount and IPC namespaces (``unshare --mount --ipc``), so what it mounts
is seen by nobody else and gone when it exits: a tmpfs over /run for sd_booted()'s
``/run/systemd/system/``, and a tmpfs over /dev with an mqueue filesystem at /dev/mqueue for
sd_is_mq(). In each state it calls python-systemd and socket_activation.daemon alike and prints
one JSON object: ``{case: {"systemd.daemon": outcome, "socket_activation.daemon": outcome}}``.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from socket_activation import daemon as ours
from systemd import daemon as real

MODULES = {"systemd.daemon": real, "socket_activation.daemon": ours}
NOBODY = 65534


def outcome(function: Callable[..., Any], *args: Any) -> list[Any]:
    try:
        return ["returned", function(*args)]
    except OSError as exc:
        return ["raised", type(exc).__name__, exc.errno, exc.filename]


def both(name: str, *args: Any) -> dict[str, list[Any]]:
    return {label: outcome(getattr(module, name), *args) for label, module in MODULES.items()}


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def as_nobody(name: str) -> dict[str, list[Any]]:
    """Call ``name()`` in a forked child that dropped to uid/gid 65534."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        os.write(write_end, json.dumps(both(name)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return dict(json.loads(data))


def booted_cases() -> dict[str, Any]:
    found: dict[str, Any] = {}
    mount("-t", "tmpfs", "none", "/run")
    found["absent"] = both("booted")
    os.makedirs("/run/systemd/system")
    found["directory"] = both("booted")
    os.rmdir("/run/systemd/system")
    os.mkdir("/run/real-system")
    os.symlink("/run/real-system", "/run/systemd/system")
    found["symlink-to-directory"] = both("booted")
    os.rmdir("/run/real-system")
    found["dangling-symlink"] = both("booted")
    os.unlink("/run/systemd/system")
    with open("/run/systemd/system", "w"):
        pass
    found["a-file"] = both("booted")
    os.unlink("/run/systemd/system")
    os.mkdir("/run/systemd/system")
    os.chmod("/run/systemd", 0o700)
    found["unreadable-as-nobody"] = as_nobody("booted")
    return found


def mq_open(name: bytes) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = int(libc.mq_open(name, os.O_RDWR | os.O_CREAT, 0o600, None))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def mq_cases() -> dict[str, Any]:
    found: dict[str, Any] = {}
    queue = mq_open(b"/sa-queue")
    other = mq_open(b"/sa-other")
    fifo_r, fifo_w = os.pipe()
    sock = socket.socket()
    closed = os.open("/", os.O_RDONLY)
    os.close(closed)
    found["queue-unmounted"] = both("is_mq", queue)
    found["queue-path-unmounted"] = both("is_mq", queue, "/sa-queue")
    mount("-t", "tmpfs", "none", "/dev")
    os.mkdir("/dev/mqueue")
    mount("-t", "mqueue", "none", "/dev/mqueue")
    found["queue"] = both("is_mq", queue)
    found["queue-its-path"] = both("is_mq", queue, "/sa-queue")
    found["queue-bytes-path"] = both("is_mq", queue, b"/sa-queue")
    found["queue-other-queue-path"] = both("is_mq", queue, "/sa-other")
    found["queue-missing-path"] = both("is_mq", queue, "/sa-missing")
    found["queue-relative-path"] = both("is_mq", queue, "sa-queue")
    found["queue-root"] = both("is_mq", queue, "/")
    found["other-queue"] = both("is_mq", other)
    found["pipe"] = both("is_mq", fifo_r)
    found["socket"] = both("is_mq", sock)
    found["closed-fd"] = both("is_mq", closed)
    found["negative-fd"] = both("is_mq", -1)
    found["queue-is-fifo"] = both("is_fifo", queue)
    found["queue-is-socket"] = both("is_socket", queue)
    mqueue_dir = os.open("/dev/mqueue", os.O_RDONLY | os.O_DIRECTORY)
    found["mqueue-directory"] = both("is_mq", mqueue_dir)
    for fd in (queue, other, fifo_r, fifo_w, mqueue_dir):
        os.close(fd)
    sock.close()
    return found


def main() -> None:
    what = sys.argv[1]
    found = booted_cases() if what == "booted" else mq_cases()
    sys.stdout.write(json.dumps(found))


if __name__ == "__main__":
    main()
