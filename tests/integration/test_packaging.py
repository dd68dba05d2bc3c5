"""packaging/: the Debian package builds here and holds a working CLI and the example units.

``packaging/build-deb`` runs the real ``dpkg-buildpackage -us -uc -b`` (dh-python, pybuild's
pyproject plugin, hatchling from Debian); ``dpkg -x`` unpacks the .deb and the packaged
``/usr/bin/socket-activation`` runs on Debian's own ``/usr/bin/python3`` (its shebang) with only
the unpacked tree on ``PYTHONPATH``. Debian 12 ships pydantic 1.10, so commands that need
pydantic v2 get the test environment's pydantic *after* the unpacked tree on the path (the test
checks the package's own modules are the ones imported).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from socket_activation import __version__
from tests.conftest import require, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "packaging" / "debian"
UNITS = ROOT / "units"
SYSTEMD_UNITS = sorted(p.name for p in UNITS.iterdir() if p.suffix in (".socket", ".service"))
DEBIAN_PYTHON = Path("/usr/bin/python3")
PACKAGE = "python3-socket-activation"
SITE = "usr/lib/python3/dist-packages"


def run(*argv: str | os.PathLike[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run argv (text output captured); fail the test with its output on a non-zero exit."""
    done = subprocess.run(
        [os.fspath(a) for a in argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        **kwargs,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb built by packaging/build-deb from this checkout (once per module)."""
    for tool in ("dpkg-buildpackage", "dpkg-checkbuilddeps", "dpkg-deb", "dh"):
        require_tool(tool)
    check = subprocess.run(
        ["dpkg-checkbuilddeps", str(DEBIAN / "control")],
        capture_output=True,
        text=True,
        check=False,
    )
    require(check.returncode == 0, f"Debian build dependencies missing: {check.stderr.strip()}")
    out = tmp_path_factory.mktemp("deb")
    done = run(ROOT / "packaging" / "build-deb", out)
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == out
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb unpacked with ``dpkg -x``."""
    root = tmp_path_factory.mktemp("root")
    run("dpkg", "-x", deb, root)
    return root


def changelog_version() -> str:
    version = run("dpkg-parsechangelog", "-l", DEBIAN / "changelog", "-S", "Version").stdout
    return version.strip()


def packaged_cli(root: Path, *args: str, extra_path: str | None = None) -> str:
    """Run the packaged CLI on Debian's python3 with a clean environment; its stdout."""
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} is missing (apt-get install python3)")
    pythonpath = os.pathsep.join(p for p in (str(root / SITE), extra_path) if p)
    script = root / "usr" / "bin" / "socket-activation"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath, "LANG": "C.UTF-8"}
    return run(script, *args, env=env).stdout


def test_deb_is_named_for_the_changelog_version_of_this_release(deb: Path) -> None:
    """The package version is the changelog's, whose upstream part is __version__."""
    version = changelog_version()
    assert version.rsplit("-", 1)[0] == __version__
    assert deb.name == f"{PACKAGE}_{version}_all.deb"
    assert run("dpkg-deb", "-f", deb, "Version").stdout.strip() == version


def test_deb_depends_on_pydantic_v2(deb: Path) -> None:
    """Depends names pydantic v2 (dh_python3 alone would accept any python3-pydantic)."""
    depends = [d.strip() for d in run("dpkg-deb", "-f", deb, "Depends").stdout.split(",")]
    assert "python3-pydantic (>= 2.5)" in depends
    assert "python3-pydantic (<< 3)" in depends
    assert any(d.startswith("python3:any") for d in depends)


@pytest.mark.parametrize("manager", [pytest.param(m, id=m) for m in ("system", "user")])
def test_deb_installs_exactly_the_example_units(unpacked: Path, manager: str) -> None:
    """usr/lib/systemd/{system,user}/ hold the units of units/, byte for byte, and no others."""
    directory = unpacked / "usr" / "lib" / "systemd" / manager
    assert sorted(p.name for p in directory.iterdir()) == SYSTEMD_UNITS
    assert len(SYSTEMD_UNITS) == 4
    for name in SYSTEMD_UNITS:
        assert (directory / name).read_bytes() == (UNITS / name).read_bytes(), name


def test_deb_never_enables_or_starts_the_units(deb: Path, tmp_path: Path) -> None:
    """Maintainer scripts start nothing, and enable only what the admin had enabled before."""
    run("dpkg-deb", "-e", deb, tmp_path / "control")
    scripts = {
        p.name: p.read_text()
        for p in (tmp_path / "control").iterdir()
        if p.name in ("preinst", "postinst", "prerm", "postrm")
    }
    assert scripts, "no maintainer scripts at all: expected dh_python3's postinst"
    for name, text in scripts.items():
        assert "deb-systemd-invoke start" not in text, name
        assert "systemctl start" not in text, name
        lines = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        for i, line in enumerate(lines):
            if re.search(r"deb-systemd-helper (--user )?enable", line):
                assert "was-enabled" in lines[i - 1], f"{name}: unguarded enable: {line}"


def test_deb_holds_the_library_and_its_cli(unpacked: Path) -> None:
    """The package has the module tree, py.typed, the entry point and the dist-info."""
    package = unpacked / SITE / "socket_activation"
    assert (package / "__init__.py").is_file()
    assert (package / "py.typed").is_file()
    assert (package / "cli" / "__init__.py").is_file()
    assert (unpacked / SITE / f"socket_activation-{__version__}.dist-info" / "METADATA").is_file()
    script = unpacked / "usr" / "bin" / "socket-activation"
    assert script.read_text().startswith(f"#!{DEBIAN_PYTHON}\n")
    assert os.access(script, os.X_OK)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("--version",), f"socket-activation {__version__}\n", id="version"),
        pytest.param(("--help",), "usage: socket-activation", id="help"),
        pytest.param(("demo", "--help"), "usage: socket-activation demo", id="demo-help"),
    ],
)
def test_packaged_cli_runs_on_debian_python_alone(
    unpacked: Path, args: tuple[str, ...], expected: str
) -> None:
    """--version and --help need nothing but the package and Debian's python3."""
    assert packaged_cli(unpacked, *args).startswith(expected)


def test_packaged_cli_binds_with_pydantic_v2(unpacked: Path) -> None:
    """`inspect --json` from the package (pydantic v2 from the test environment) binds a socket."""
    import pydantic

    debian = run(DEBIAN_PYTHON, "-c", "import sys; print(*sys.version_info[:2])").stdout.split()
    require(
        tuple(map(int, debian)) == sys.version_info[:2],
        f"pydantic_core of Python {sys.version_info[:2]} cannot load in {DEBIAN_PYTHON} {debian}",
    )
    pydantic_site = str(Path(pydantic.__file__).parents[1])
    origin = run(
        DEBIAN_PYTHON,
        "-c",
        "import socket_activation, pydantic; print(socket_activation.__file__)",
        env={"PYTHONPATH": f"{unpacked / SITE}{os.pathsep}{pydantic_site}"},
    ).stdout.strip()
    assert Path(origin).is_relative_to(unpacked), f"imported {origin}, not the package's"
    report = json.loads(
        packaged_cli(
            unpacked, "inspect", "--json", "--listen", "127.0.0.1:0", extra_path=pydantic_site
        )
    )
    [sock] = report["sockets"]
    assert (sock["source"], sock["kind"], sock["listening"]) == ("bound", "tcp", True)
    assert sock["address"].startswith("127.0.0.1:")
