"""``socket-activation supervise`` as a real container's PID 1.

The project's image runs ``supervise --health`` as its entrypoint, as user ``app`` (as in the
Kubernetes example), with tests/support/restart_app.py bind-mounted as the app. Each generation
is ``sh -c '(sleep 0.2 &); exec python restart_app.py'``: the sleep is orphaned at once and
re-parented to PID 1, which must reap it. From the host: 20 rollouts (``podman kill -s HUP``)
under a load of 4 clients, not one request failed; ``podman stop`` while a 2 s request is in
flight: it is answered, and the container exits with the app's own status (3 here); and, read
inside the container, no zombie and only the serving generation left.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.integration.net import free_port, stop_process
from tests.integration.podman import Podman
from tests.support.load import Load, Sample

pytestmark = pytest.mark.integration

SUPPORT = Path(__file__).resolve().parents[2] / "support"
PYTHON = "/opt/socket-activation/bin/python"
RELOADS = 20
APP_STATUS = 3


def readyz(port: int) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        response = conn.getresponse()
        return response.status, dict(json.loads(response.read()))
    except OSError:
        return 0, {}
    finally:
        conn.close()


def wait_generation(port: int, number: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, body = readyz(port)
        if status == 200 and body.get("generation") == number:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"generation {number} never became ready: {status} {body}")
        time.sleep(0.05)


# Lists the container's processes from one process that forks nothing (a shell's `$(cat ...)`
# children would be zombies of its own for a moment).
_PS = """
import json, os
found = []
for name in os.listdir("/proc"):
    if not name.isdigit() or int(name) == os.getpid():
        continue
    try:
        stat = open(f"/proc/{name}/stat").read()
        cmdline = open(f"/proc/{name}/cmdline").read().replace("\\0", " ").strip()
    except OSError:
        continue
    found.append([int(name), stat.rpartition(") ")[2].split()[0], cmdline])
print(json.dumps(found))
"""


def processes(podman: Podman, container: str) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of every other process in the container, from its /proc."""
    found = json.loads(podman.exec_(container, PYTHON, "-c", _PS))
    return [(int(pid), str(state), str(cmdline)) for pid, state, cmdline in found]


def zombies(podman: Podman, container: str) -> set[int]:
    """Processes left unreaped: a zombie in two scans 0.5 s apart (one in a single scan may be
    a child that exited a moment ago, before its parent's SIGCHLD handling reaped it)."""
    first = {pid for pid, state, _ in processes(podman, container) if state == "Z"}
    time.sleep(0.5)
    return first & {pid for pid, state, _ in processes(podman, container) if state == "Z"}


def test_supervise_as_pid_1_reloads_20_times_under_load_drains_on_stop_and_reaps(
    podman: Podman, image: str, container: str
) -> None:
    port, health = free_port(), free_port()
    generation = (
        f"(sleep 0.2 &); exec {PYTHON} /support/restart_app.py --startup 0.3 "
        f"--drain 15 --exit-status {APP_STATUS}"
    )
    proc = podman.popen(
        "run",
        "--rm",
        "--network",
        "host",
        "--name",
        container,
        "--user",
        "app",
        "--volume",
        f"{SUPPORT}:/support:ro",
        "--env",
        f"SOCKET_ACTIVATION_LISTEN=127.0.0.1:{port}",
        "--entrypoint",
        json.dumps(
            [
                "socket-activation",
                "supervise",
                "--health",
                f"127.0.0.1:{health}",
                "--drain-timeout",
                "20",
                "--",
            ]
        ),
        image,
        "/bin/sh",
        "-c",
        generation,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_generation(health, 1)
        with Load(("127.0.0.1", port), clients=4, max_requests=100_000) as load:
            for number in range(2, RELOADS + 2):
                podman("kill", "--signal", "HUP", container)
                wait_generation(health, number)
            time.sleep(0.5)
        samples = load.samples
        assert load.failures() == {}, f"{load.failures()} of {len(samples)} requests failed"
        answered_by = {s.pid for s in samples}
        assert len(answered_by) >= RELOADS // 2, "the load ran across the rollouts"
        assert len(samples) > 200

        time.sleep(0.5)  # the orphaned sleeps (0.2 s) have all exited by now
        assert zombies(podman, container) == set()
        seen = processes(podman, container)
        [pid1] = [p for p in seen if p[0] == 1]
        assert "socket-activation supervise" in pid1[2]
        apps = [p for p in seen if p[0] != 1 and p[2].startswith(f"{PYTHON} /support/")]
        assert len(apps) == 1, f"only the serving generation is left: {seen}"

        slow: list[Sample] = []
        client = threading.Thread(
            target=lambda: slow.append(Load(("127.0.0.1", port)).one(b"GET /slow HTTP/1.0\r\n\r\n"))
        )
        client.start()
        time.sleep(0.5)  # the 2 s request is in flight
        podman("stop", "--time", "30", container, timeout=60)
        client.join(30)
        assert [s.outcome for s in slow] == ["ok"], "the in-flight request was drained"
        assert slow[0].pid == apps[0][0]
        assert proc.wait(timeout=30) == APP_STATUS, "the container exits with the app's status"
    finally:
        stop_process(proc)
