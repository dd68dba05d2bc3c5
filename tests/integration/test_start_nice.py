"""supervise --start-nice: the generation that starts while another serves runs niced until
READY=1, then at the supervisor's own priority; the first generation is never niced."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.integration.test_supervise import APP, Supervise

pytestmark = pytest.mark.integration


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def nice_of(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


@pytest.mark.parametrize(("option", "while_starting"), [([], 10), (["--start-nice", "0"], 0)])
def test_new_generation_is_niced_until_ready(
    listener: socket.socket, tmp_path: Path, option: list[str], while_starting: int
) -> None:
    require_root()  # restoring a nice value needs CAP_SYS_NICE
    own = os.getpriority(os.PRIO_PROCESS, 0)
    command = [sys.executable, APP, "--startup", "1.5"]
    sup = Supervise(tmp_path, [listener], option, command=command)
    try:
        sup.wait_ready()
        first = sup.generation_pid(1)
        assert nice_of(first) == own
        os.kill(sup.pid, signal.SIGHUP)
        second = sup.generation_pid(2)
        time.sleep(0.3)  # in its 1.5 s start-up
        assert nice_of(second) == min(19, own + while_starting)
        sup.wait_log(r"generation 2 \(pid \d+\) is ready")
        assert nice_of(second) == own
    finally:
        sup.close()
