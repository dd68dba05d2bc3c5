"""packaging/kubernetes/: the example manifests are valid Kubernetes objects and fit together.

Validated against the Kubernetes OpenAPI schemas of their kinds as packaged by
``kubernetes-validate`` (PyPI; its bundled JSON schemas, strict: unknown fields are errors)
for the newest Kubernetes it knows and the oldest still supported here. Then what no schema
can see: the probes reach ``supervise --health``'s port and paths, the grace period outlasts
the shutdown delay plus the drain, the listen address comes from the ConfigMap through
``SOCKET_ACTIVATION_LISTEN`` and matches the container port, and the pod's user is the
image's ``app``. The pod itself runs under podman in containers/test_kubernetes_pod.py.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "packaging" / "kubernetes"
CONTAINERFILE = ROOT / "packaging" / "container" / "Containerfile"
# the newest schema kubernetes-validate bundles, and an older one still in wide use
VERSIONS = ["1.37.0", "1.30.0"]


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def one(kind: str) -> dict[str, Any]:
    [doc] = [d for d in documents() if d["kind"] == kind]
    return doc


def container() -> dict[str, Any]:
    [c] = one("Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(c)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_manifests_are_a_configmap_a_deployment_and_a_service() -> None:
    assert sorted(d["kind"] for d in documents()) == ["ConfigMap", "Deployment", "Service"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly_against_the_kubernetes_schema(version: str) -> None:
    for doc in documents():
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    """The check can fail: an unknown field in a probe is an error under strict validation."""
    bad = copy.deepcopy(one("Deployment"))
    probe = bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[0], strict=True)


def test_the_probes_reach_supervise_health_endpoints() -> None:
    c = container()
    command = c["command"]
    assert command[:2] == ["socket-activation", "supervise"]
    assert command[-1] == "--"
    health_port = int(option(command, "--health").rpartition(":")[2])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["health"] == health_port
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    # /livez is 503 until the first generation serves: a startup probe covers the start-up
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"


def test_the_grace_period_outlasts_the_shutdown_delay_plus_the_drain() -> None:
    command = container()["command"]
    delay = float(option(command, "--shutdown-delay"))
    drain = float(option(command, "--drain-timeout"))
    grace = one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert delay > 0
    assert grace > delay + drain


def test_the_listen_address_comes_from_the_configmap() -> None:
    [env] = [e for e in container()["env"] if e["name"] == "SOCKET_ACTIVATION_LISTEN"]
    ref = env["valueFrom"]["configMapKeyRef"]
    config = one("ConfigMap")
    assert ref["name"] == config["metadata"]["name"]
    listen = config["data"][ref["key"]]
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert listen == f"0.0.0.0:{ports['http']}"
    assert "--listen" not in container()["command"], "the address is configuration, not argv"


def test_the_service_selects_the_pods_and_targets_the_http_port() -> None:
    service, deployment = one("Service"), one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_pod_runs_as_the_images_unprivileged_user() -> None:
    spec = one("Deployment")["spec"]["template"]["spec"]
    match = re.search(r"useradd --system --uid (\d+) ", CONTAINERFILE.read_text())
    assert match is not None
    assert spec["securityContext"]["runAsUser"] == int(match.group(1))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container()["securityContext"]["capabilities"] == {"drop": ["ALL"]}
