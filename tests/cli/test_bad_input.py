"""Bad input to every command: a clear message naming the input and an exit status, never a
Python traceback; sockets closed and socket files removed when the command cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "socket_activation"]


@pytest.fixture(scope="module")
def files() -> Iterator[Path]:
    """Bad input files, in a short directory (Unix socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sa-bad-", dir="/tmp") as tmp:
        d = Path(tmp)
        (d / "fifo.socket").write_text("[Socket]\nListenFIFO=/run/sa-bad.fifo\n")
        (d / "bad-utf8.socket").write_bytes(b"[Socket]\nListenStream=/run/\xff\n")
        (d / "template@.socket").write_text("[Socket]\nListenStream=/run/sa-%i.sock\n")
        (d / "refused.socket").write_text("[Socket]\nListenDatagram=127.0.0.1:9\nAccept=yes\n")
        (d / "bad.toml").write_text("listen = [")
        (d / "bad.plist").write_text("<plist>")
        (d / "script.sh").write_text("#!/bin/sh\necho hi\n")  # not executable
        yield d


# (argv, exit status, text the message must contain); {d} is the directory of bad files
TABLE = [
    # addresses
    (["inspect", "--listen", "bogus::"], 65, "'bogus::'"),
    (["exec", "--listen", "127.0.0.1:99999", "--", "true"], 65, "port 99999"),
    (["inspect", "-d", "[::1:80"], 65, "'[::1:80'"),
    (["inspect", "--listen", "{d}/no/such/dir/x.sock"], 71, "{d}/no/such/dir/x.sock"),
    (["units", "--listen", "localhost:0"], 65, "localhost:0"),
    # files
    (["inspect", "--unit", "{d}/missing.socket"], 65, "{d}/missing.socket"),
    (["inspect", "--unit", "{d}"], 65, "{d}"),
    (["inspect", "--unit", "{d}/bad-utf8.socket"], 65, "bad-utf8.socket:2: not valid UTF-8"),
    (["exec", "--unit", "{d}/fifo.socket", "--", "true"], 65, "fifo.socket:2"),
    (["inspect", "--unit", "{d}/template@.socket"], 65, "--instance"),
    (["inspect", "--unit", "{d}/refused.socket"], 65, "refuses"),
    (["inspect", "--config", "{d}/missing.toml"], 65, "{d}/missing.toml"),
    (["inspect", "--config", "{d}/bad.toml"], 65, "{d}/bad.toml"),
    (["inspect", "--plist", "{d}/bad.plist"], 65, "{d}/bad.plist"),
    (["units", "-o", "/proc/sa-nope", "--listen", "127.0.0.1:80"], 73, "/proc/sa-nope"),
    # users
    (["exec", "--user", "sa-no-user", "-l", "127.0.0.1:0", "--", "true"], 65, "sa-no-user"),
    (["exec", "--group", "sa-no-group", "-l", "127.0.0.1:0", "--", "true"], 65, "sa-no-group"),
    # commands
    (["exec", "-l", "{d}/e1.sock", "--", "/nonexistent/cmd"], 127, "/nonexistent/cmd"),
    (["exec", "-l", "{d}/e2.sock", "--", "sa-no-such-command"], 127, "sa-no-such-command"),
    (["exec", "-l", "{d}/e3.sock", "--", "{d}/script.sh"], 126, "script.sh: Permission denied"),
    (["exec", "-l", "{d}/e4.sock", "--", "{d}"], 126, "Permission denied"),
    (["exec", "-l", "127.0.0.1:0"], 65, "needs a command"),
    (["supervise", "-l", "127.0.0.1:0"], 65, "needs a command"),
    (["units", "--exec", '"unclosed', "--listen", "127.0.0.1:80"], 65, "--exec"),
    (["units", "--name", "bad name", "--listen", "127.0.0.1:80"], 65, "'bad name'"),
    # options
    (["inspect", "--fdname", "a:b", "--listen", "127.0.0.1:0"], 65, "2 names for 1"),
    (["inspect", "--bogus"], 2, "--bogus"),
    (["exec", "--bogus"], 2, "--bogus"),
    (["supervise", "--bogus"], 2, "--bogus"),
    (["units", "--bogus"], 2, "--bogus"),
    (["notify", "--bogus"], 2, "--bogus"),
    (["demo", "--bogus"], 2, "--bogus"),
    (["bogus-command"], 2, "bogus-command"),
]


@pytest.mark.parametrize(
    ("argv", "status", "message"), TABLE, ids=[" ".join(row[0]) for row in TABLE]
)
def test_bad_input_is_a_message_and_an_exit_status(
    files: Path, argv: list[str], status: int, message: str
) -> None:
    """The message names the bad input; the status says what kind of failure it was."""
    args = [a.format(d=files) for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_"))}
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=30, check=False, env=env
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, done.stderr
    assert message.format(d=files) in done.stderr


def test_a_command_that_cannot_run_leaves_no_socket_file(files: Path) -> None:
    """exec of a missing program: status 127, and the Unix socket bound for it is removed."""
    path = files / "left.sock"
    done = subprocess.run(
        [*CLI, "exec", "-l", str(path), "--", "/nonexistent/cmd"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 127
    assert done.stderr == "socket-activation exec: /nonexistent/cmd: No such file or directory\n"
    assert not path.exists()
