"""Whether a process still holds our listening sockets, read from /proc of real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from socket_activation.restart.release import descendants, holders, socket_inodes

# keeps the inherited fd (argv[1]) until a line arrives on stdin, then closes it and waits
_HOLDER = (
    "import os, sys, time\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "os.close(int(sys.argv[1]))\n"
    "print('closed', flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def test_a_process_holds_the_socket_until_it_closes_it(listener: socket.socket) -> None:
    inodes = socket_inodes([listener])
    argv = [sys.executable, "-c", _HOLDER, str(listener.fileno())]
    with subprocess.Popen(
        argv, pass_fds=[listener.fileno()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            assert child.stdout.readline() == "ready\n"
            assert holders([child.pid], inodes) == [child.pid]
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "closed\n"
            assert holders([child.pid], inodes) == []
        finally:
            child.kill()


def test_a_descendant_that_holds_it_is_found_through_its_parent(listener: socket.socket) -> None:
    """A shell (like a pre-fork master) whose child holds the socket: the child is named;
    once the child is gone, nobody holds it."""
    inodes = socket_inodes([listener])
    fd = listener.fileno()
    # the shell closes its own copy; its background child keeps one
    script = f"sleep 30 & exec {fd}>&-; wait"
    with subprocess.Popen(["/bin/bash", "-c", script], pass_fds=[fd]) as shell:
        try:
            deadline = time.monotonic() + 5
            while len(descendants(shell.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            family = descendants(shell.pid)
            assert family[0] == shell.pid
            assert len(family) == 2
            worker = family[1]
            deadline = time.monotonic() + 5
            while shell.pid in holders([shell.pid], inodes) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert holders([shell.pid], inodes) == [worker]
            assert holders([shell.pid], inodes, with_descendants=False) == []
            os.kill(worker, 9)
            deadline = time.monotonic() + 5
            while holders([shell.pid], inodes) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert holders([shell.pid], inodes) == []
        finally:
            shell.kill()


def test_an_exited_process_holds_nothing(listener: socket.socket) -> None:
    with subprocess.Popen(["true"], pass_fds=[listener.fileno()]) as child:
        child.wait()
    assert holders([child.pid], socket_inodes([listener])) == []
    assert holders([os.getpid()], socket_inodes([listener]), with_descendants=False) == [
        os.getpid()
    ]
