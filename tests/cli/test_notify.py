"""``socket-activation notify`` run as a real subprocess against a real manager socket."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from socket_activation.testing import NotifySocket
from tests.conftest import require_root
from tests.support.notify_manager import FakeManager, path_manager

# the real CLI entry point and its error-to-exit-code mapping, with only "notify" registered so
# the test neither waits for the lead to add it to COMMANDS nor depends on other subcommands
_DRIVER = """
import sys
from socket_activation import cli
cli.COMMANDS = ("notify",)
sys.exit(cli.main(["notify", *sys.argv[1:]]))
"""


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    yield from path_manager()


def run_notify(
    *argv: str, env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "MANAGERPID")}
    return subprocess.run(
        [sys.executable, "-c", _DRIVER, *argv],
        env={**base, **env},
        pass_fds=pass_fds,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--ready"], b"READY=1", id="ready"),
        pytest.param(["--stopping"], b"STOPPING=1", id="stopping"),
        pytest.param(["--status", "a b"], b"STATUS=a b", id="status"),
        pytest.param(["--ready", "--status=up"], b"READY=1\nSTATUS=up", id="ready-status"),
        pytest.param(["READY=1", "X_A=1"], b"READY=1\nX_A=1", id="assignments"),
        pytest.param(["--status=a", "STATUS=b"], b"STATUS=b", id="later-assignment-wins"),
        pytest.param(["--pid=4242", "--ready"], b"READY=1\nMAINPID=4242", id="pid"),
    ],
)
def test_options_and_assignments_become_one_message(
    manager: FakeManager, argv: list[str], expected: bytes
) -> None:
    """Like systemd-notify: options and VARIABLE=VALUE arguments are sent as one datagram."""
    done = run_notify("--no-block", *argv, env=manager.env)
    assert (done.returncode, done.stderr) == (0, "")
    assert manager.receive().payload == expected


def test_message_is_sent_on_behalf_of_the_calling_process(manager: FakeManager) -> None:
    """systemd-notify attributes the message to its caller (the service's shell), if allowed."""
    require_root()
    run_notify("--no-block", "--ready", env=manager.env)
    assert manager.receive().pid == os.getpid()


def test_passed_fd_reaches_the_manager_named(manager: FakeManager) -> None:
    """--fd N --fdname NAME with FDSTORE=1 passes the caller's fd to the store."""
    read_end, write_end = os.pipe()
    try:
        done = run_notify(
            "--no-block",
            f"--fd={read_end}",
            "--fdname=state",
            "FDSTORE=1",
            env=manager.env,
            pass_fds=(read_end,),
        )
        got = manager.receive()
        assert done.returncode == 0
        assert got.payload == b"FDNAME=state\nFDSTORE=1"
        assert os.fstat(got.fds[0]).st_ino == os.fstat(read_end).st_ino
    finally:
        os.close(read_end)
        os.close(write_end)


def test_it_waits_for_the_manager_with_a_barrier(notify_socket: NotifySocket) -> None:
    """Without --no-block it sends BARRIER=1 after the message and exits once answered."""
    done = run_notify("--ready", env={"NOTIFY_SOCKET": notify_socket.address})
    assert done.returncode == 0
    assert [(m.payload, m.fd_count) for m in notify_socket.messages] == [
        (b"READY=1", 0),
        (b"BARRIER=1", 1),
    ]


def test_without_notify_socket_it_fails_like_systemd_notify() -> None:
    """No NOTIFY_SOCKET: exit 1 and systemd-notify's message, as on this machine's 252."""
    done = run_notify("--ready", env={})
    assert done.returncode == 1
    assert "$NOTIFY_SOCKET was not set" in done.stderr


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param([], 64, "nothing to send", id="nothing"),
        pytest.param(["READY"], 64, "VARIABLE=VALUE", id="not-an-assignment"),
        pytest.param(["--pid=zero", "--ready"], 64, "--pid", id="bad-pid"),
        pytest.param(["--fd=999", "FDSTORE=1"], 64, "--fd 999", id="closed-fd"),
        pytest.param(["--status", "a\nb"], 64, "single line", id="multiline-status"),
        pytest.param(["X_A=" + "a" * 4093], 65, "4097 bytes", id="oversize"),
    ],
)
def test_bad_input_exits_nonzero_naming_it(
    manager: FakeManager, argv: list[str], code: int, message: str
) -> None:
    """Bad arguments exit 64, a message the manager would drop 65; nothing is sent."""
    done = run_notify("--no-block", *argv, env=manager.env)
    assert done.returncode == code
    assert message in done.stderr
    assert manager.drain() == []


def test_failure_to_send_exits_nonzero(manager: FakeManager) -> None:
    """A NOTIFY_SOCKET that cannot be reached exits 71 (EX_OSERR) naming it."""
    done = run_notify("--no-block", "--ready", env={"NOTIFY_SOCKET": "/nonexistent/sa"})
    assert done.returncode == 71
    assert "/nonexistent/sa" in done.stderr
