"""The image packaging/container/Containerfile builds, run by real podman.

Built once per session on the Debian base image (tests/integration/containers/conftest.py) from
this checkout's wheel and its dependencies' wheels, with ``--network none``: the build needs no
network. Run with ``--network host`` the entrypoint binds port 80 as root (on a loopback
address of its own here, through ``SOCKET_ACTIVATION_LISTEN``), switches to user ``app`` and
execs the demo, which ``curl`` on the host reaches; ``podman exec`` reads the demo's
``/proc/<pid>/status`` inside the container.
"""

from __future__ import annotations

import random
import socket
import subprocess

import pytest

from tests.integration.net import curl, stop_process
from tests.integration.podman import Podman

pytestmark = pytest.mark.integration


def free_loopback_port_80() -> str:
    """A 127.x.y.z address whose port 80 is free right now (so no other test's is taken)."""
    for _ in range(50):
        host = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(2, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((host, 80))
            except OSError:
                continue
        return host
    raise AssertionError("no loopback address with a free port 80")


def status_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_the_image_serves_the_demo_on_port_80_as_the_unprivileged_user(
    podman: Podman, image: str, container: str
) -> None:
    """curl from the host gets the demo's answer on port 80; inside, the app runs as ``app``
    (uid, gid and supplementary groups) with every capability set empty."""
    host = free_loopback_port_80()
    proc = podman.popen(
        "run",
        "--rm",
        "--network",
        "host",
        "--name",
        container,
        "--env",
        f"SOCKET_ACTIVATION_LISTEN={host}:80",
        image,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        answer = curl(f"http://{host}:80/", timeout=60)
        assert (answer["source"], answer["fd"], answer["address"]) == ("systemd", 3, f"{host}:80")
        assert answer["pid"] == 1, "exec replaced the entrypoint: the demo is the container's PID 1"
        status = status_fields(podman.exec_(container, "cat", f"/proc/{answer['pid']}/status"))
        passwd = podman.exec_(container, "getent", "passwd", "app").split(":")
        uid, gid = passwd[2], passwd[3]
        assert uid != "0"
        assert status["Uid"].split() == [uid] * 4, "real, effective, saved and fs uid"
        assert status["Gid"].split() == [gid] * 4
        groups = podman.exec_(container, "id", "-G", "app").split()
        assert sorted(status["Groups"].split()) == sorted(groups)
        for capabilities in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert int(status[capabilities], 16) == 0, f"{capabilities}: {status[capabilities]}"
        podman("stop", "--time", "10", container)
        assert proc.wait(timeout=30) == 0, "the demo exits 0 on SIGTERM; so does the container"
    finally:
        stop_process(proc)
