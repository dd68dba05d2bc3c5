"""python-systemd's own test_daemon.py, run against socket_activation.daemon.

The file is python-systemd's (LGPL-2.1), so it is not kept in this repository: it is fetched at
test time from the pinned systemd-python sdist on PyPI with ``pip download`` and cached in
``$XDG_CACHE_HOME/socket-activation/`` (``~/.cache`` by default), checked against the pinned
sha256. Only its import line is rewritten (``from systemd.daemon import`` becomes ``from
socket_activation.daemon import``); it then runs in its own pytest process, where every one of
its tests must pass: none skipped, none failed. Offline, the test skips with the reason; under
``CI=true`` it fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import require
from tests.support.paths import ROOT

VERSION = "235"  # the systemd-python release the suite installs as the oracle
SDIST = f"systemd-python-{VERSION}.tar.gz"
SDIST_SHA256 = "4e57f39797fd5d9e2d22b8806a252d7c0106c936039d1e71c8c6b8008e695c0a"
MEMBER = f"systemd-python-{VERSION}/systemd/test/test_daemon.py"
IMPORT_LINE = "from systemd.daemon import ("
OUR_IMPORT_LINE = "from socket_activation.daemon import ("
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "socket-activation"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download() -> Path:
    """The pinned sdist, from the cache or from PyPI (``pip download``)."""
    cached = CACHE / SDIST
    if cached.exists() and _sha256(cached) == SDIST_SHA256:
        return cached
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"systemd-python=={VERSION}",
                "--dest",
                scratch,
            ],
            # the sdist's setup.py runs pkg-config at import, even for pip's metadata step;
            # we want the file, not a build, so no libsystemd-dev is needed: "true" answers
            env={**os.environ, "PKG_CONFIG": "true"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        fetched = Path(scratch) / SDIST
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        require(done.returncode == 0 and fetched.exists(), f"cannot fetch {SDIST}: {tail}")
        digest = _sha256(fetched)
        assert digest == SDIST_SHA256, f"{SDIST} from PyPI has sha256 {digest}"
        os.replace(fetched, cached)
    return cached


def peer_test_file() -> str:
    """python-systemd's test_daemon.py, as shipped in the pinned sdist."""
    with tarfile.open(_download()) as archive:
        member = archive.extractfile(MEMBER)
        assert member is not None, f"{MEMBER} is not in {SDIST}"
        return member.read().decode("utf-8")


def run_pytest(test_file: Path) -> ET.Element:
    """Run *test_file* in its own pytest, with an empty config; its JUnit XML report."""
    (test_file.parent / "pytest.ini").write_text("[pytest]\n")
    report = test_file.parent / "report.xml"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA"),
            *("--junitxml", str(report), test_file.name),
        ],
        cwd=test_file.parent,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.exists(), done.stdout + done.stderr
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - pytest's own report
    assert suite is not None
    return suite


def assert_every_test_passed(suite: ET.Element, source: str) -> None:
    defined = re.findall(r"^def (test_\w+)", source, re.MULTILINE)
    cases = suite.findall("testcase")
    not_passed = {case.get("name"): [child.tag for child in case] for case in cases if len(case)}
    assert not_passed == {}
    assert sorted(case.get("name") or "" for case in cases) == sorted(defined)
    assert suite.get("skipped") == "0"
    assert suite.get("failures") == "0"
    assert suite.get("errors") == "0"


def test_python_systemds_test_daemon_passes_against_ours(tmp_path: Path) -> None:
    """Its 24 tests, imports rewritten to socket_activation.daemon: every one passes."""
    source = peer_test_file()
    assert source.count(IMPORT_LINE) == 1
    rewritten = source.replace(IMPORT_LINE, OUR_IMPORT_LINE)
    changed = [
        (old, new)
        for old, new in zip(source.splitlines(), rewritten.splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 1
    assert changed[0][1] == changed[0][0].replace("systemd.daemon", "socket_activation.daemon")
    assert not re.search(r"^\s*(from|import)\s+systemd\b", rewritten, re.MULTILINE)
    test_file = tmp_path / "test_daemon.py"
    test_file.write_text(rewritten)
    suite = run_pytest(test_file)
    assert_every_test_passed(suite, source)
    assert suite.get("tests") == "24"


def test_the_same_file_passes_against_python_systemd(tmp_path: Path) -> None:
    """The unmodified file passes against the binding too: we run the same 24 tests it does."""
    try:
        import systemd.daemon  # noqa: F401
    except ImportError:
        require(False, "systemd-python (libsystemd's binding, the oracle) is not installed")
    source = peer_test_file()
    test_file = tmp_path / "test_daemon.py"
    test_file.write_text(source)
    assert_every_test_passed(run_pytest(test_file), source)
