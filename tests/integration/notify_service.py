"""A service run by a real systemd user manager in the notify integration tests.

Modes (first argument):

* ``ready TRIGGER`` - waits until the file TRIGGER exists, then sends READY=1 with a STATUS=;
  so the test can see the unit ``activating`` before and ``active`` only after READY=1.
* ``watchdog healthy|hang`` - an asyncio app with the watchdog keep-alive on its own loop; in
  ``hang`` mode a coroutine blocks the loop after start-up, so the pings stop.
* ``fdstore PORT REPORT`` - takes the listening socket named ``web`` back from LISTEN_FDS if the
  store had it, else binds 127.0.0.1:PORT; stores it (FDSTORE=1, FDNAME=web), appends
  ``{"pid", "ino", "inherited"}`` as a JSON line to REPORT, sends READY=1 and answers every
  connection with ``ok <pid>``. SIGTERM stops it between connections, as a real server drains:
  a connection it accepted is always answered, one still queued waits in the stored socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

from socket_activation.systemd.activation import listen_fds_with_names
from socket_activation.systemd.fdstore import fdstore_add
from socket_activation.systemd.notify import ready
from socket_activation.systemd.watchdog import watchdog_keepalive

# bound on every wait in here, so a service left behind by a broken test still ends
_MAX_WAIT = 60.0
# how often the fd-store server looks for SIGTERM between connections
_POLL = 0.05


def run_ready(trigger: Path) -> None:
    deadline = time.monotonic() + _MAX_WAIT
    while not trigger.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ready(status="serving after the trigger")
    time.sleep(_MAX_WAIT)


async def run_watchdog(mode: str) -> None:
    async with watchdog_keepalive() as task:
        assert task is not None, "WatchdogSec= should have set WATCHDOG_USEC"
        ready(status=f"watchdog {mode}")
        await asyncio.sleep(0.5)
        if mode == "hang":
            time.sleep(_MAX_WAIT)  # the bug under test: a handler that blocks the event loop
        await asyncio.sleep(_MAX_WAIT)


def run_fdstore(port: int, report: Path) -> None:
    named = {name: fd for fd, name in listen_fds_with_names().items()}
    if "web" in named:
        server = socket.socket(fileno=named["web"])
        inherited = True
    else:
        server = socket.create_server(("127.0.0.1", port), backlog=128)
        inherited = False
    fdstore_add(server, "web")
    with report.open("a") as out:
        line = {"pid": os.getpid(), "ino": os.fstat(server.fileno()).st_ino, "inherited": inherited}
        out.write(json.dumps(line) + "\n")
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    ready(status=f"serving on 127.0.0.1:{port}")
    server.settimeout(_POLL)
    answer = f"ok {os.getpid()}\n".encode()
    deadline = time.monotonic() + _MAX_WAIT
    while not stopping and time.monotonic() < deadline:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            conn.sendall(answer)
        deadline = time.monotonic() + _MAX_WAIT


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "ready":
        run_ready(Path(argv[1]))
    elif mode == "watchdog":
        asyncio.run(run_watchdog(argv[1]))
    elif mode == "fdstore":
        run_fdstore(int(argv[1]), Path(argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
