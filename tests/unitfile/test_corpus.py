"""Every ``.socket`` unit Debian 12 ships loads as systemd 252 loads it.

The corpus (tests/unitfile/corpus, see its README) holds the unit files as packaged. Each is read
by the library and by systemd itself (``systemd-analyze verify`` at debug level dumps the loaded
unit), and the two readings are compared on everything the library reads: whether the unit
loads, every port in order (kind and address), the fd name, each socket option,
``Accept=``/``MaxConnections=``, and which lines get a warning. Ports the library does not open
(FIFO, netlink, special files) carry a note naming their line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from socket_activation.sources.unit import SocketUnit
from tests.conftest import require_tool
from tests.support.sdverify import verify_unit
from tests.support.unitcompare import disagreements, library_view

CORPUS = Path(__file__).parent / "corpus"
UNITS = sorted(p for p in CORPUS.rglob("*.socket"))


def _instance_name(path: Path) -> str:
    """A template is loaded as systemd-analyze verify loads it: under the instance ``i``."""
    return path.name.replace("@.", "@i.") if "@." in path.name else path.name


def _is_user_unit(path: Path) -> bool:
    return "user" in path.relative_to(CORPUS).parts


def test_the_corpus_is_what_the_issue_asks_for() -> None:
    """At least 60 units from at least 30 packages, each listed in the manifest."""
    with (CORPUS / "MANIFEST.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert {r["file"] for r in rows} == {str(p.relative_to(CORPUS)) for p in UNITS}
    assert len(UNITS) >= 60
    assert len({r["package"] for r in rows}) >= 30


@pytest.mark.parametrize("path", UNITS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_a_shipped_unit_loads_as_systemd_loads_it(path: Path, tmp_path: Path) -> None:
    """Library and systemd agree on the unit (0 disagreements)."""
    require_tool("systemd-analyze")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    name = _instance_name(path)
    user = _is_user_unit(path)
    theirs = verify_unit(
        path.read_text(), name, user=user, runtime_dir=str(runtime), workdir=str(tmp_path)
    )
    environ = {"XDG_RUNTIME_DIR": str(runtime), "HOME": "/root"}
    ours = library_view(path, name, "user" if user else "system", environ)
    assert disagreements(ours, theirs) == [], theirs.stderr[-2000:]
    if isinstance(ours, SocketUnit):
        for where in ours.unsupported:
            assert re.fullmatch(re.escape(str(path)) + r":\d+", where)
            assert any(n.startswith(where) and "not supported" in n for n in ours.notes)


def test_the_comparison_sees_real_variety() -> None:
    """The corpus exercises what the comparison checks: templates, user units, Accept=yes,
    options, unsupported ports, /var/run paths; a comparison of look-alikes would prove little."""
    texts = [p.read_text() for p in UNITS]
    assert sum("@." in p.name for p in UNITS) >= 5
    assert sum(_is_user_unit(p) for p in UNITS) >= 10
    for needle in (
        "Accept=yes",
        "ListenDatagram=",
        "ListenNetlink=",
        "ListenFIFO=",
        "BindIPv6Only=",
        "/var/run/",
        "PassCredentials=",
        "ReceiveBuffer=",
        "FileDescriptorName=",
        "SocketUser=",
        "Backlog=",
    ):
        assert any(needle in t for t in texts), needle
