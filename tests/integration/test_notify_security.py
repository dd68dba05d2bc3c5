"""Forged notifications to supervise's private NOTIFY_SOCKET change nothing.

The socket's abstract name is no secret (``/proc/net/unix`` lists it, and every generation has
it in its environment), and anyone may send to an abstract socket. What decides is the
sender's pid in ``SCM_CREDENTIALS``, which the kernel fills in and lets only a privileged
process forge: a message counts only if that pid is a generation or one of its descendants.
Here a rollout is under way (the new generation hangs before ``READY=1``) when processes that
are not generations send ``READY=1``, ``MAINPID=`` naming the new generation, ``STOPPING=1``
and ``STATUS=``: one of the same user, and one running as ``nobody``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root, require_tool
from tests.integration.test_supervise import Supervise
from tests.support.load import Load

pytestmark = pytest.mark.integration

# the sender: one datagram to an abstract NOTIFY_SOCKET, with the credentials the kernel gives
_SEND = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "s.sendto(sys.argv[2].encode(), b'\\0' + sys.argv[1][1:].encode())\n"
    "print('sent', flush=True)\n"
)
# the same, forging the pid in SCM_CREDENTIALS: the kernel refuses unless privileged
_FORGE = (
    "import socket, struct, sys, os\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "cred = struct.pack('iII', int(sys.argv[3]), os.getuid(), os.getgid())\n"
    "try:\n"
    "    s.sendmsg([sys.argv[2].encode()], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, cred)],\n"
    "              0, b'\\0' + sys.argv[1][1:].encode())\n"
    "    print('sent', flush=True)\n"
    "except PermissionError as exc:\n"
    "    print('refused', exc.errno, flush=True)\n"
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


def notify_socket_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        if entry.startswith(b"NOTIFY_SOCKET="):
            return entry.split(b"=", 1)[1].decode()
    raise AssertionError(f"process {pid} has no NOTIFY_SOCKET")


def run_as(user: list[str], script: str, *args: str) -> str:
    done = subprocess.run(
        # the base interpreter, stdlib only: nobody may not be able to read this checkout
        [*user, os.path.realpath(sys.executable), "-I", "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_forged_ready_mainpid_and_stopping_change_nothing(
    listener: socket.socket, tmp_path: Path
) -> None:
    require_root()
    setpriv = require_tool("setpriv")
    nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    sup = Supervise(tmp_path, [listener], ["--ready-timeout", "3", "--drain-timeout", "5"])
    try:
        sup.wait_ready()
        first = sup.generation_pid(1)
        address = notify_socket_of(first)
        assert address.startswith("@")
        # the name is public: it is in /proc/net/unix for everyone to read
        assert address[1:] in Path("/proc/net/unix").read_text()
        sup.set_fault("hang")
        os.kill(sup.pid, signal.SIGHUP)
        second = sup.generation_pid(2)
        forged = [
            "READY=1",
            f"MAINPID={second}\nREADY=1",
            "STATUS=forged status",
            "STOPPING=1",
        ]
        for message in forged:
            assert run_as([], _SEND, address, message) == "sent"  # same uid, not a generation
            assert run_as(nobody, _SEND, address, message) == "sent"  # another uid
        # forging the credentials themselves is refused by the kernel to an unprivileged sender
        assert run_as(nobody, _FORGE, address, "READY=1", str(second)) == "refused 1"
        # nothing changed: generation 2 still must say READY=1 itself, and does not
        sup.wait_log(r"generation 2 \(pid \d+\) sent no READY=1 within 3 s")
        probe = Load(listener.getsockname(), clients=1)
        assert {probe.one(b"GET / HTTP/1.0\r\n\r\n").pid for _ in range(5)} == {first}
        notes = sup.notes()
        assert {"STOPPING": "1"} not in notes
        assert not any("forged" in n.get("STATUS", "") for n in notes)
        assert not any(f"generation 2 (pid {second}) serving" == n.get("STATUS") for n in notes)
        assert not re.search(r"generation 2 \(pid \d+\) is ready", sup.text())
        assert "stopping on" not in sup.text()
        os.kill(sup.pid, 0)  # supervise runs on
    finally:
        sup.close()
