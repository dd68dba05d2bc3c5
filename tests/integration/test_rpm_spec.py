"""packaging/rpm/socket-activation.spec parses with the real rpm and makes a source RPM.

Debian's archive has rpm 4.18 (``rpmspec``, ``rpmbuild``) but not Fedora's
pyproject-rpm-macros or systemd-rpm-macros, so the binary package cannot be built here:
``rpmbuild -bs`` (spec + source tarball, no %build) and ``rpmspec -P``/``-q`` are what can be
run. The systemd unit directories are defined on the command line to Fedora's values
(``%_unitdir``, ``%_userunitdir`` come from systemd-rpm-macros).
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from socket_activation import __version__
from tests.conftest import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "rpm" / "socket-activation.spec"
UNITS = sorted(p.name for p in (ROOT / "units").iterdir() if p.suffix in (".socket", ".service"))
UNIT_DIRS = {"_unitdir": "/usr/lib/systemd/system", "_userunitdir": "/usr/lib/systemd/user"}
DEFINES = [arg for name, value in UNIT_DIRS.items() for arg in ("--define", f"{name} {value}")]


def rpm_tool(name: str, *args: str) -> str:
    exe = require_tool(name)
    done = subprocess.run(
        [exe, *DEFINES, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{name} {args} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def test_spec_version_is_the_package_version() -> None:
    """Version: is __version__; the one binary package is python3-socket-activation."""
    query = rpm_tool("rpmspec", "-q", "--builtrpms", "--qf", "%{NAME} %{VERSION}\n", str(SPEC))
    assert query.splitlines() == [f"python3-socket-activation {__version__}"]


@pytest.mark.parametrize("directory", [pytest.param(d, id=name) for name, d in UNIT_DIRS.items()])
def test_spec_packages_every_example_unit(directory: str) -> None:
    """%files lists each unit of units/ in the system and in the user unit directory."""
    expanded = rpm_tool("rpmspec", "-P", str(SPEC))
    files = expanded.split("\n%files", 1)[1].split("\n%changelog", 1)[0].splitlines()
    listed = sorted(line.rsplit("/", 1)[1] for line in files if line.startswith(f"{directory}/"))
    assert listed == UNITS


def test_rpmbuild_makes_a_source_rpm(tmp_path: Path) -> None:
    """rpmbuild -bs with Source0 made from this checkout writes the .src.rpm."""
    sources = tmp_path / "SOURCES"
    sources.mkdir()
    stem = f"socket-activation-{__version__}"
    with tarfile.open(sources / f"{stem}.tar.gz", "w:gz") as tar:
        for part in ("pyproject.toml", "README.md", "CHANGELOG.md", "src", "units"):
            tar.add(ROOT / part, arcname=f"{stem}/{part}")
    output = rpm_tool("rpmbuild", "--define", f"_topdir {tmp_path}", "-bs", str(SPEC))
    srpm = tmp_path / "SRPMS" / f"{stem}-1.src.rpm"
    assert f"Wrote: {srpm}" in output
    contents = rpm_tool("rpm", "-qpl", str(srpm)).split()
    assert contents == [f"{stem}.tar.gz", "socket-activation.spec"]
    requires = rpm_tool("rpm", "-qp", "--requires", str(srpm))
    assert {"pyproject-rpm-macros", "python3-devel", "systemd-rpm-macros"} <= set(requires.split())
