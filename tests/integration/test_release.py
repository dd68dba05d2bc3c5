"""Release artifacts: what ``python -m build`` makes is what PyPI should get, and it works.

- ``python -m build`` makes an sdist and a wheel (the wheel built from the sdist); a wheel built
  straight from the tree has the same files with the same bytes;
- ``twine check --strict`` passes on both;
- metadata: the version from src/socket_activation/__init__.py and nowhere else, classifiers that
  PyPI knows (``Typing :: Typed`` among them) with ``py.typed`` shipped, project URLs, the licence
  (``License-Expression`` and the LICENSE file), pydantic the only runtime dependency, the
  console script;
- the sdist holds every file git has, and nothing git ignores;
- the wheel installed with ``--only-binary :all:`` into a clean venv runs ``inspect``, ``exec`` and
  ``notify`` with no compiler on PATH and no systemd-python (tests/support/wheel_smoke.py, which
  the release workflow and .ci/fresh-machine run too);
- the release workflow's test step: the sdist unpacked, ``src/`` removed, tests run against the
  installed wheel.

The isolated builds fetch hatchling and the venvs fetch pydantic from the package index.
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest

from socket_activation import __version__
from tests.conftest import require, require_tool
from tests.support.paths import ROOT, TESTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMOKE = TESTS / "support" / "wheel_smoke.py"
INIT = ROOT / "src" / "socket_activation" / "__init__.py"
STEM = f"socket_activation-{__version__}"
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def run(*argv: str | os.PathLike[str], cwd: Path = ROOT) -> str:
    """Run argv; its stdout and stderr, or a failed test showing them."""
    done = subprocess.run(
        [os.fspath(a) for a in argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("CI", "VIRTUAL_ENV")},
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}"
    return done.stdout


def need(module: str) -> None:
    require(importlib.util.find_spec(module) is not None, f"{module} is not installed (test extra)")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build``'s output: the sdist, and the wheel it built from the sdist."""
    need("build")
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


@pytest.fixture(scope="module")
def tree_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built straight from the source tree."""
    need("build")
    out = tmp_path_factory.mktemp("tree")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT)
    [wheel] = out.glob("*.whl")
    return wheel


def wheel_of(dist: Path) -> Path:
    return dist / f"{STEM}-py3-none-any.whl"


def sdist_of(dist: Path) -> Path:
    return dist / f"{STEM}.tar.gz"


def metadata(dist: Path) -> Message:
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        text = wheel.read(f"{STEM}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def git_files() -> set[str]:
    require_tool("git")
    require((ROOT / ".git").exists(), f"{ROOT} is not a git checkout")
    out = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {name for name in out.split("\0") if name and (ROOT / name).is_file()}


def test_build_makes_one_sdist_and_one_pure_wheel(dist: Path) -> None:
    """Exactly these two files, named for __version__; the wheel is py3-none-any."""
    assert sorted(p.name for p in dist.iterdir()) == [f"{STEM}-py3-none-any.whl", f"{STEM}.tar.gz"]
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        tags = wheel.read(f"{STEM}.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: true" in tags
    assert "Tag: py3-none-any" in tags


def test_twine_check_passes(dist: Path) -> None:
    """``twine check --strict``: the README renders on PyPI; the metadata is complete."""
    need("twine")
    out = run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert out.count("PASSED") == 2, out
    assert "WARNING" not in out, out
    assert "ERROR" not in out, out


def test_the_sdist_builds_the_same_wheel(dist: Path, tree_wheel: Path) -> None:
    """The wheel built from the sdist and the one built from the tree: same names, same bytes."""
    with zipfile.ZipFile(wheel_of(dist)) as from_sdist, zipfile.ZipFile(tree_wheel) as from_tree:
        names = from_sdist.namelist()
        assert names == from_tree.namelist()
        different = [n for n in names if from_sdist.read(n) != from_tree.read(n)]
    assert not different


def test_the_wheel_holds_the_package_and_nothing_else(dist: Path) -> None:
    """Every module git has under src/, py.typed, and the .dist-info; no tests, no caches."""
    package = {name.removeprefix("src/") for name in git_files() if name.startswith("src/")}
    assert "socket_activation/py.typed" in package
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        names = set(wheel.namelist())
    info = {name for name in names if name.startswith(f"{STEM}.dist-info/")}
    assert names - info == package
    assert info == {
        f"{STEM}.dist-info/{name}"
        for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "licenses/LICENSE")
    }


def test_the_sdist_holds_what_git_has_and_nothing_it_ignores(dist: Path) -> None:
    """Every file git has (so the sdist rebuilds and tests), PKG-INFO, and nothing else."""
    with tarfile.open(sdist_of(dist)) as sdist:
        names = {m.name.removeprefix(f"{STEM}/") for m in sdist.getmembers() if m.isfile()}
    assert names == git_files() | {"PKG-INFO"}


def test_the_version_lives_in_one_place(dist: Path) -> None:
    """pyproject has no version of its own; hatchling reads __init__'s literal into both files."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/socket_activation/__init__.py"
    [literal] = re.findall(r'^__version__ = "([^"]+)"$', INIT.read_text(), re.MULTILINE)
    assert literal == __version__
    assert metadata(dist)["Version"] == __version__
    with tarfile.open(sdist_of(dist)) as sdist:
        pkg_info = sdist.extractfile(f"{STEM}/PKG-INFO")
        assert pkg_info is not None
        assert email.parser.BytesParser().parse(pkg_info)["Version"] == __version__
    # no other module spells the version (the Debian changelog and the RPM spec must, and
    # tests/integration/test_packaging.py and test_rpm_spec.py check they say the same)
    spelled = [
        path.relative_to(ROOT)
        for path in (ROOT / "src").rglob("*.py")
        if path != INIT and re.search(rf"['\"]{re.escape(__version__)}['\"]", path.read_text())
    ]
    assert not spelled


def test_metadata_classifiers_urls_licence_and_dependencies(dist: Path) -> None:
    """Classifiers PyPI accepts (Typing :: Typed among them), https project URLs, MIT + LICENSE."""
    need("trove_classifiers")
    from trove_classifiers import classifiers as known

    meta = metadata(dist)
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert {f"Programming Language :: Python :: 3.{m}" for m in (11, 12)} <= set(classifiers)
    assert not set(classifiers) - known, "PyPI rejects unknown classifiers on upload"
    assert not [c for c in classifiers if c.startswith("License ::")], "License-Expression says it"
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        assert wheel.read(f"{STEM}.dist-info/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        entry_points = wheel.read(f"{STEM}.dist-info/entry_points.txt").decode()
    assert "socket-activation = socket_activation.cli:main" in entry_points
    assert meta["Requires-Python"] == ">=3.11"
    runtime = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert runtime == ["pydantic<3,>=2.5"]
    assert meta["Description-Content-Type"] == "text/markdown"


def unpack(sdist: Path, where: Path) -> None:
    """Unpack *sdist* under *where* (Debian 12's Python 3.11.2 has no tarfile ``filter=``)."""
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            target = (where / member.name).resolve()
            assert target.is_relative_to(where.resolve()), f"{member.name} leaves the sdist"
            content = archive.extractfile(member) if member.isfile() else None
            if content is None:
                assert member.isdir(), f"{member.name}: only files and directories expected"
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.read())
            target.chmod(member.mode & 0o755)


def clean_venv(where: Path, *requirements: str | os.PathLike[str]) -> Path:
    """A new venv of the base interpreter (no system site-packages), binary wheels only."""
    run(BASE_PYTHON, "-m", "venv", where)
    bindir = where / "bin"
    run(
        bindir / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--only-binary",
        ":all:",
        *requirements,
    )
    return bindir


def test_the_wheel_runs_inspect_exec_and_notify_in_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    """Installed without building anything, run with no compiler on PATH, no systemd-python."""
    bindir = clean_venv(tmp_path / "venv", wheel_of(dist))
    out = run(sys.executable, SMOKE, bindir, __version__)
    assert [line.split(":")[0] for line in out.splitlines()] == [
        f"ok no C compiler on PATH ({bindir}), no systemd-python in the venv",
        "ok socket-activation --version",
        "ok inspect",
        "ok exec",
        "ok notify",
    ], out


def test_the_workflow_tests_the_installed_wheel_not_the_tree(dist: Path, tmp_path: Path) -> None:
    """As .github/workflows/release.yml does: sdist unpacked, src/ removed, wheel installed."""
    unpack(sdist_of(dist), tmp_path)
    tree = tmp_path / STEM
    shutil.rmtree(tree / "src")
    bindir = clean_venv(tmp_path / "venv", wheel_of(dist), "pytest", "pyfakefs", "hypothesis")
    where = run(
        bindir / "python", "-c", "import socket_activation as s; print(s.__file__)", cwd=tree
    )
    assert Path(where.strip()).is_relative_to(tmp_path / "venv" / "lib")
    tests = ["tests/test_config.py", "tests/sources", "tests/unitfile"]
    out = run(bindir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, cwd=tree)
    summary = out.splitlines()[-1]
    assert re.fullmatch(r"\d+ passed(, \d+ skipped)? in .*", summary), out  # skips: missing tools
