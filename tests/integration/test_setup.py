"""A fresh machine: `make test`'s set-up succeeds where tools are missing, and says what is missing.

Everything runs for real, and nothing is removed from this machine: the tools are hidden instead.
A PATH is built from links to every program on the normal PATH except the hidden ones (apt,
dpkg, pkg-config, C compilers), and the set-up runs with that PATH:

- ``packaging/install-system-packages`` (the one list, packaging/system-packages.txt): nothing
  missing means no apt-get at all; not root, or no apt, names what is missing and exits 0;
- ``make setup`` in a fresh copy of this checkout (the files git has, as a clone gets them) on a
  machine with no apt, no pkg-config, no libsystemd-dev and no compiler (python-systemd #138):
  the set-up succeeds, says the systemd-python oracle is not installed, and the oracle's tests
  then skip with the reason, and fail under ``CI=true``;
- ``packaging/install-oracle`` where pkg-config finds libsystemd but no compiler exists: the
  build fails and the set-up still succeeds.

``.ci/fresh-machine`` shows the same in a Debian 12 container (README, "Set-up").
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require, require_root, require_tool
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

INSTALL_PACKAGES = ROOT / "packaging" / "install-system-packages"
INSTALL_ORACLE = ROOT / "packaging" / "install-oracle"
PACKAGE_LIST = ROOT / "packaging" / "system-packages.txt"
APT = r"apt|apt-get|dpkg|dpkg-query"
PKG_CONFIG = r"pkg-config|pkgconf|.*-pkg-config"
COMPILERS = r"cc|c\+\+|c89|c99|gcc(-\d+)?|g\+\+(-\d+)?|clang.*|.*-gcc(-\d+)?|.*-g\+\+(-\d+)?|tcc"
NOT_A_PACKAGE = "socket-activation-no-such-package"
# the base interpreter, as a fresh machine's python3 (a venv is never made from a venv here)
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def listed_packages() -> list[str]:
    """The package names of packaging/system-packages.txt, in order."""
    names: list[str] = []
    for line in PACKAGE_LIST.read_text().splitlines():
        names += line.partition("#")[0].split()
    return names


def hiding(directory: Path, pattern: str) -> str:
    """A PATH of one *directory* of links to every program on PATH whose name is not *pattern*."""
    hidden = re.compile(pattern)
    directory.mkdir(mode=0o755)
    for entry in os.environ["PATH"].split(os.pathsep):
        if not entry or not os.path.isdir(entry):
            continue
        for program in sorted(os.scandir(entry), key=lambda e: e.name):
            link = directory / program.name
            if hidden.fullmatch(program.name) or link.exists() or link.is_symlink():
                continue  # hidden, or an earlier PATH entry already provides it
            if program.is_file() and os.access(program.path, os.X_OK):
                link.symlink_to(program.path)
    return str(directory)


def run(
    argv: list[str], path: str, cwd: Path = ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run *argv* with PATH=*path* (CI unset unless given); stdout and stderr together."""
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "VIRTUAL_ENV", "MAKEFLAGS")}
    return subprocess.run(
        argv,
        env={**base, "PATH": path, **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A temporary directory others can read (for a run as nobody)."""
    with tempfile.TemporaryDirectory(prefix="sa-setup-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - nobody must read it; it holds nothing secret
        yield Path(tmp)


# -- packaging/install-system-packages ----------------------------------------------------------


def test_nothing_missing_means_no_apt_get(tmp_path: Path) -> None:
    """All installed: one line, exit 0, and apt-get is not needed (it is not even on PATH)."""
    require_tool("dpkg-query")
    packages = tmp_path / "packages.txt"
    packages.write_text("dpkg        # the package manager itself\ncoreutils\n")
    done = run([str(INSTALL_PACKAGES), str(packages)], hiding(tmp_path / "bin", "apt|apt-get"))
    assert done.returncode == 0, done.stdout
    assert done.stdout == f"system packages: all 2 in {packages} are installed\n"


def test_not_root_names_what_is_missing_and_goes_on(world_readable_tmp: Path) -> None:
    """As nobody: the missing package is named with the reason; exit 0; nothing installed."""
    require_root()
    setpriv = require_tool("setpriv")
    require_tool("dpkg-query")
    packages = world_readable_tmp / "packages.txt"
    packages.write_text(f"dpkg\n{NOT_A_PACKAGE}   # what a fresh machine lacks\n")
    packages.chmod(0o644)
    script = world_readable_tmp / "install-system-packages"
    script.write_bytes(INSTALL_PACKAGES.read_bytes())
    script.chmod(0o755)
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", str(script), str(packages)]
    done = run(argv, os.environ["PATH"], cwd=world_readable_tmp)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "system packages: NOT installed (not root; as root `make test` installs them with "
        f"apt-get): {NOT_A_PACKAGE}"
    )
    assert "skip with the reason (under CI=true they fail)" in lines[1]


def test_no_apt_names_every_package_and_goes_on(tmp_path: Path) -> None:
    """No apt-get or dpkg-query (not Debian): every listed package is named; exit 0."""
    done = run([str(INSTALL_PACKAGES)], hiding(tmp_path / "bin", APT))
    assert done.returncode == 0, done.stdout
    first = done.stdout.splitlines()[0]
    assert first.startswith(
        "system packages: NOT installed (no apt-get/dpkg-query on this machine)"
    )
    assert first.split(": ")[-1].split() == listed_packages()


# -- make setup on a machine without apt, pkg-config, libsystemd-dev or a compiler --------------


def fresh_copy(destination: Path) -> Path:
    """The files of this checkout a clone would have (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        target.chmod(source.stat().st_mode & 0o777)
    return destination


@pytest.fixture(scope="module")
def fresh(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A fresh copy after ``make setup`` with apt, pkg-config and compilers hidden."""
    make = require_tool("make")
    require_tool("git")
    require((ROOT / ".git").exists(), f"{ROOT} is not a git checkout")
    tmp = tmp_path_factory.mktemp("fresh")
    clone = fresh_copy(tmp / "clone")
    path = hiding(tmp / "bin", f"{APT}|{PKG_CONFIG}|{COMPILERS}")
    done = run([make, "--no-print-directory", "setup", f"PYTHON={BASE_PYTHON}"], path, cwd=clone)
    return clone, done


@pytest.mark.slow
def test_setup_succeeds_and_says_what_it_could_not_install(
    fresh: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Exit 0; the missing system packages and the oracle are each named once, with why."""
    clone, done = fresh
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    [packages] = [line for line in lines if line.startswith("system packages: NOT installed")]
    assert packages.split(": ")[-1].split() == listed_packages()
    oracle = [line for line in lines if line.startswith("oracle:")]
    assert oracle == [
        "oracle: systemd-python NOT installed: pkg-config cannot find libsystemd (Debian: "
        "libsystemd-dev, pkg-config); its tests skip (under CI=true they fail)"
    ]
    python = clone / ".venv" / "bin" / "python"
    check = (
        "import hypothesis, pyfakefs, pytest, socket_activation; print(socket_activation.__file__)"
    )
    imported = subprocess.run([python, "-c", check], capture_output=True, text=True, check=True)
    assert Path(imported.stdout.strip()).is_relative_to(clone / "src")
    no_oracle = subprocess.run([python, "-c", "import systemd"], capture_output=True, check=False)
    assert no_oracle.returncode == 1


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["", "true"], ids=["CI unset", "CI=true"])
def test_oracle_tests_skip_with_the_reason_and_fail_under_ci(
    fresh: tuple[Path, subprocess.CompletedProcess[str]], ci: str
) -> None:
    """The differential tests in the fresh copy: all skipped, saying why; under CI=true, failed."""
    clone, setup = fresh
    assert setup.returncode == 0, setup.stdout
    argv = [str(clone / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    argv += ["-rs", "tests/systemd/test_differential.py"]
    done = run(argv, os.environ["PATH"], cwd=clone, CI=ci)
    reason = "systemd-python (libsystemd's binding, the oracle) is not installed"
    summary = done.stdout.splitlines()[-1]
    # one test there checks the case table only and needs no oracle: it passes either way
    if ci:
        assert done.returncode == 1, done.stdout
        assert f"required for this test under CI=true: {reason}" in done.stdout
        # the fixture fails: pytest counts an error per test
        assert re.fullmatch(r"1 passed, \d+ errors in .*", summary), summary
    else:
        assert done.returncode == 0, done.stdout
        assert "SKIPPED [" in done.stdout
        assert reason in done.stdout
        assert re.fullmatch(r"1 passed, \d+ skipped in .*", summary), summary


@pytest.mark.slow
def test_oracle_build_failing_is_not_a_failed_set_up(
    fresh: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """pkg-config finds libsystemd but there is no compiler: one line naming the log; exit 0."""
    clone, setup = fresh
    assert setup.returncode == 0, setup.stdout
    pkg_config = require_tool("pkg-config")
    found = subprocess.run([pkg_config, "--exists", "libsystemd"], check=False)
    require(
        found.returncode == 0, "pkg-config cannot find libsystemd (apt-get install libsystemd-dev)"
    )
    python = clone / ".venv" / "bin" / "python"
    # no wheel built earlier may stand in for the build: a fresh machine has no pip cache
    done = run(
        [str(INSTALL_ORACLE), str(python)],
        hiding(tmp_path / "bin", COMPILERS),
        PIP_NO_CACHE_DIR="1",
    )
    assert done.returncode == 0, done.stdout
    log = clone / ".venv" / "systemd-python-install.log"
    assert done.stdout == (
        f"oracle: systemd-python NOT installed: its build failed (see {log}); "
        "its tests skip (under CI=true they fail)\n"
    )
    assert "error" in log.read_text().lower()
    no_oracle = subprocess.run([python, "-c", "import systemd"], capture_output=True, check=False)
    assert no_oracle.returncode == 1
