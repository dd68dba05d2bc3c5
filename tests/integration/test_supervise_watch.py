"""``supervise --watch``: an edit reloads; an edit that breaks start-up leaves the old
generation serving and shows the new one's error; no request fails during the edit loop."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_supervise import Supervise
from tests.support.load import Load

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "support" / "tiny_app.py"
# the app under development: its settings module is imported at start-up, then it serves
APP = """\
import runpy, sys
sys.path.insert(0, {here!r})
import settings
print(f"app: settings.VALUE={{settings.VALUE}}", file=sys.stderr, flush=True)
runpy.run_path({tiny!r}, run_name="__main__")
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


def save(path: Path, text: str) -> None:
    """An editor's save: a temp file renamed over the original."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def serving(load_probe: Load) -> set[int]:
    return {load_probe.one(b"GET / HTTP/1.0\r\n\r\n").pid for _ in range(5)}


def test_edits_reload_and_a_broken_edit_keeps_the_old_code_serving(
    listener: socket.socket, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.py").write_text("VALUE = 1\n")
    (project / "app.py").write_text(APP.format(here=str(project), tiny=str(TINY)))
    sup = Supervise(
        tmp_path,
        [listener],
        ["--watch", str(project), "--ready-timeout", "5", "--drain-timeout", "5"],
        command=[sys.executable, str(project / "app.py")],
    )
    probe = Load(listener.getsockname(), clients=1)
    try:
        sup.wait_ready()
        first = sup.generation_pid(1)
        sup.wait_log(r"watching .*project \(InotifyWatcher\)")
        with Load(listener.getsockname(), clients=4) as load:
            save(project / "settings.py", "VALUE = 2\n")
            sup.wait_log(r"changed: .*settings\.py.*; reloading")
            second = sup.generation_pid(2)
            sup.wait_log(rf"generation 2 \(pid {second}\) is ready")
            sup.wait_log(r"app: settings.VALUE=2")
            deadline = time.monotonic() + 10
            while serving(probe) != {second} and time.monotonic() < deadline:
                time.sleep(0.05)
            assert serving(probe) == {second}
            save(project / "settings.py", "VALUE = (\n")  # a syntax error
            sup.wait_log(r"generation 3 \(pid \d+\) exited with status 1 before READY=1; "
                         rf"generation 2 \(pid {second}\) keeps serving")  # fmt: skip
            assert "SyntaxError" in sup.text()  # the new one's error, shown
            assert serving(probe) == {second}
            save(project / "settings.py", "VALUE = 4\n")  # fixed
            fourth = sup.generation_pid(4)
            sup.wait_log(rf"generation 4 \(pid {fourth}\) is ready")
            time.sleep(0.2)
        assert load.failures() == {}, sup.text()
        assert len(load.samples) > 50
        assert {first, second, fourth} <= {s.pid for s in load.samples}
    finally:
        sup.close()


def test_a_watch_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    import subprocess

    missing = tmp_path / "no-such-dir"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "socket_activation", "supervise", "--listen", "127.0.0.1:0"),
            *("--watch", str(missing), "--", "true"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert done.returncode == 65
    assert f"--watch: cannot watch '{missing}': no such file or directory" in done.stderr
