"""The example Deployment's container, run by podman the way a kubelet would run it.

From packaging/kubernetes/: the container's ``command`` and ``args``, its environment with the
ConfigMap's value, its user and security context (``--user``, ``--read-only``, ``--cap-drop
ALL``, no new privileges) and ``terminationGracePeriodSeconds`` as ``podman stop --time``. Only
the addresses change: ``0.0.0.0`` ports become free loopback ports (loopback only). Then what
the kubelet and the endpoints controller would see: the startup probe until 200, readiness 200,
the demo answering; on SIGTERM readiness 503 at once while the demo still answers for the
shutdown delay; the container exits 0 inside the grace period.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.net import curl, free_port, stop_process
from tests.integration.podman import Podman

pytestmark = pytest.mark.integration

MANIFESTS = Path(__file__).resolve().parents[3] / "packaging" / "kubernetes"


def manifest(kind: str) -> dict[str, Any]:
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                return dict(doc)
    raise AssertionError(f"no {kind} in {MANIFESTS}")


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def wait_status(port: int, path: str, status: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while get(port, path) != status:
        assert time.monotonic() < deadline, f"{path} never answered {status}"
        time.sleep(0.1)


def test_the_deployments_container_starts_probes_and_shuts_down_as_the_manifest_says(
    podman: Podman, image: str, container: str
) -> None:
    pod = manifest("Deployment")["spec"]["template"]["spec"]
    [spec] = pod["containers"]
    config = manifest("ConfigMap")["data"]
    port, health = free_port(), free_port()
    loopback = {"0.0.0.0:8080": f"127.0.0.1:{port}", "0.0.0.0:8081": f"127.0.0.1:{health}"}
    command = [loopback.get(arg, arg) for arg in spec["command"]]
    env = []
    for var in spec["env"]:
        value = config[var["valueFrom"]["configMapKeyRef"]["key"]]
        env += ["--env", f"{var['name']}={loopback.get(value, value)}"]
    security = pod["securityContext"]
    options = [
        "--user",
        f"{security['runAsUser']}:{security['runAsGroup']}",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
    ]
    if spec["securityContext"]["readOnlyRootFilesystem"]:
        options.append("--read-only")
    proc = podman.popen(
        "run",
        "--rm",
        "--network",
        "host",
        "--name",
        container,
        *options,
        *env,
        "--entrypoint",
        json.dumps(command),
        image,
        *spec["args"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_status(health, spec["startupProbe"]["httpGet"]["path"], 200)
        wait_status(health, spec["readinessProbe"]["httpGet"]["path"], 200)
        answer = curl(f"http://127.0.0.1:{port}/", timeout=30)
        assert (answer["address"], answer["source"]) == (f"127.0.0.1:{port}", "systemd")

        grace = pod["terminationGracePeriodSeconds"]
        stopping = podman.popen(
            "stop", "--time", str(grace), container, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            wait_status(health, "/readyz", 503, timeout=10)
            assert get(health, "/livez") == 200
            during = curl(f"http://127.0.0.1:{port}/", timeout=5)
            assert during["pid"] == answer["pid"], "the demo serves on during the delay"
            assert stopping.wait(timeout=grace + 30) == 0
        finally:
            stop_process(stopping)
        assert proc.wait(timeout=30) == 0, "exited by itself inside the grace period"
        _, err = proc.communicate(timeout=10)
        assert "shutdown delay of 5 s is over" in err
        assert "sending SIGKILL" not in err
    finally:
        stop_process(proc)
