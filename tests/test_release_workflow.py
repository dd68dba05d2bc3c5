""".github/workflows/release.yml says what a release does; GitHub Actions cannot run here.

Its shape is checked instead, as GitHub would read it: publishing happens only for a ``v*`` tag,
only after the build and every test of the built wheel, only with trusted publishing (an OIDC
token the publish job alone may mint, an environment, no stored password), and the wheel under
test is the built one (``src/`` removed first). The Python versions tested are the ones the
classifiers promise; the files the steps run exist.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import yaml

from tests.support.paths import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def scripts(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_it_runs_on_version_tags_and_reads_the_repository_only() -> None:
    """Pushed tags ``v*`` trigger it; by default a job may only read the repository."""
    flow = workflow()
    triggers: dict[str, Any] = flow["on"] if "on" in flow else flow[True]  # YAML 1.1: on = true
    assert triggers["push"]["tags"] == ["v*"]
    assert flow["permissions"] == {"contents": "read"}


def test_publishing_needs_a_tag_every_test_and_trusted_publishing_only() -> None:
    """publish: on a tag, after all other jobs, in an environment, OIDC only, no password."""
    jobs = workflow()["jobs"]
    publish = jobs["publish"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert set(publish["needs"]) == set(jobs) - {"publish"}
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    [upload] = [
        step for step in publish["steps"] if "gh-action-pypi-publish" in step.get("uses", "")
    ]
    assert upload["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "password" not in upload.get("with", {}), "trusted publishing: no token is stored"
    others = [name for name, job in jobs.items() if name != "publish" and "permissions" in job]
    assert not others, f"only publish may ask for more permissions: {others}"


def test_the_build_is_checked_and_a_tag_must_match_the_version() -> None:
    """python -m build, twine check --strict, and a tag that is not v{__version__} fails."""
    build = "\n".join(scripts(workflow()["jobs"]["build"]))
    assert "python -m build" in build
    assert "twine check --strict dist/*" in build
    assert '"v$version" != "$GITHUB_REF_NAME"' in build


def test_the_built_wheel_is_tested_not_the_tree() -> None:
    """src/ is removed before the tests; the wheel from dist/ is installed; the smoke runs."""
    for name in ("test-wheel", "slim"):
        steps = "\n".join(scripts(workflow()["jobs"][name]))
        assert steps.index("rm -rf src") < steps.index('"$(ls dist/*.whl)"'), name
        assert "--only-binary :all:" in steps, name
        assert "python tests/support/wheel_smoke.py /tmp/venv/bin" in steps, name
    assert workflow()["jobs"]["slim"]["container"].endswith("-slim")


def test_the_tested_pythons_are_the_classified_ones() -> None:
    """The matrix tests exactly the Python 3.x versions the classifiers name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    classified = [
        m.group(1)
        for c in project["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
    ]
    matrix = workflow()["jobs"]["test-wheel"]["strategy"]["matrix"]["python-version"]
    assert matrix == classified


def test_every_file_a_step_runs_exists() -> None:
    """Paths in run: steps (tests/..., .ci/...) name files of this repository."""
    text = "\n".join(s for job in workflow()["jobs"].values() for s in scripts(job))
    paths = set(re.findall(r"(?<![\w/])((?:tests|\.ci|packaging)/[\w./-]+)", text))
    assert paths
    missing = [p for p in sorted(paths) if not (ROOT / p).exists()]
    assert not missing
