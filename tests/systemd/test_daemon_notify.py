"""The drop-in's notify() against python-systemd's, side by side on the same sockets.

For every ``NOTIFY_SOCKET`` value and argument list both implementations are called in turn, in
this process, and must agree on the result or the exception (type and errno) and on what a real
receiving socket got: the payload, the number of fds passed and the sender pid the kernel
reports. Then ``unset_environment``: both leave ``NOTIFY_SOCKET`` out of the C environment; ours
also removes it from ``os.environ``, the binding leaves it there (measured here).
"""

from __future__ import annotations

import array
import ctypes
import errno
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from socket_activation import daemon as ours
from tests.support.oracle import outcome, systemd_daemon

_libc = ctypes.CDLL(None)
_libc.getenv.restype = ctypes.c_char_p
_libc.getenv.argtypes = [ctypes.c_char_p]

Received = tuple[bytes, int, int]


@pytest.fixture(scope="module")
def real() -> ModuleType:
    return systemd_daemon()


def c_getenv(name: str) -> str | None:
    """The variable as C code (libsystemd, a child with env=None) sees it."""
    value = _libc.getenv(name.encode())
    return None if value is None else value.decode()


class Receiver:
    """A bound AF_UNIX datagram socket with SO_PASSCRED, like the manager's notify socket."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setblocking(False)

    def drain(self) -> list[Received]:
        """Every datagram waiting: (payload, fds passed, sender pid); received fds are closed."""
        got: list[Received] = []
        space = socket.CMSG_SPACE(256 * 4) + socket.CMSG_SPACE(12)
        while True:
            try:
                data, ancdata, _flags, _addr = self.sock.recvmsg(1 << 20, space)
            except BlockingIOError:
                return got
            fds: list[int] = []
            pid = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    passed = array.array("i")
                    passed.frombytes(payload[: len(payload) - len(payload) % 4])
                    fds.extend(passed)
                elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(payload[:4], "little", signed=True)
            for fd in fds:
                os.close(fd)
            got.append((data, len(fds), pid))

    def close(self) -> None:
        self.sock.close()


class Targets:
    """NOTIFY_SOCKET values by name, and the receivers listening at some of them."""

    def __init__(self, root: Path) -> None:
        self.path = Receiver(str(root / "notify"))
        abstract = f"sa-notify-{uuid.uuid4().hex[:12]}"
        self.abstract = Receiver("\0" + abstract)
        self.stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.stream.bind(str(root / "stream"))
        self.stream.listen()
        self.values = {
            "path": str(root / "notify"),
            "abstract": "@" + abstract,
            "stream-socket": str(root / "stream"),
            "dev-null": "/dev/null",
            "directory": str(root),
            "missing": str(root / "missing" / "sock"),
            "relative": "relative/sock",
            "empty": "",
            "slash": "/",
            "at": "@",
            "too-long": "/" + "x" * 120,
        }

    def receiver(self, where: str) -> Receiver | None:
        return {"path": self.path, "abstract": self.abstract}.get(where)

    def close(self) -> None:
        self.path.close()
        self.abstract.close()
        self.stream.close()


@pytest.fixture
def targets(short_dir: Path) -> Iterator[Targets]:
    """A path socket, an abstract one, and NOTIFY_SOCKET values that are not sockets."""
    made = Targets(short_dir)
    try:
        yield made
    finally:
        made.close()


OTHER_PID = os.getppid()
ARGUMENTS: list[Any] = [
    pytest.param(("READY=1",), {}, id="ready"),
    pytest.param(("READY=1\nSTATUS=serving",), {}, id="two-lines"),
    pytest.param(("",), {}, id="empty-message"),
    pytest.param(("X=" + "y" * 5000,), {}, id="over-4096-bytes"),
    pytest.param(("STATUS=ünïcödé",), {}, id="utf-8"),
    pytest.param(("FDSTORE=1",), {"fds": []}, id="fds-empty"),
    pytest.param(("FDSTORE=1",), {"fds": [1, 2]}, id="fds-two"),
    pytest.param(("FDSTORE=1",), {"fds": (1,)}, id="fds-tuple"),
    pytest.param(("FDSTORE=1",), {"fds": [1] * 253}, id="fds-253"),
    pytest.param(("FDSTORE=1",), {"fds": [1] * 254}, id="fds-254"),
    pytest.param(("FDSTORE=1",), {"fds": [-1]}, id="fds-negative"),
    pytest.param(("FDSTORE=1",), {"fds": [999]}, id="fds-not-open"),
    pytest.param(("READY=1", False, 0, [1]), {}, id="positional"),
    pytest.param((), {"status": "READY=1"}, id="status-keyword"),
    pytest.param(("READY=1",), {"pid": 0}, id="pid-0"),
    pytest.param(("READY=1",), {"pid": os.getpid()}, id="pid-own"),
    pytest.param(("READY=1",), {"pid": OTHER_PID}, id="pid-parent"),
    pytest.param(("READY=1",), {"pid": 999999}, id="pid-no-such-process"),
    pytest.param(("READY=1",), {"pid": OTHER_PID, "fds": [1]}, id="pid-and-fds"),
    pytest.param(("READY=1",), {"pid": -1}, id="pid-negative"),
    pytest.param(("READY=1",), {"pid": 2**31}, id="pid-overflow"),
    pytest.param(("READY=1",), {"pid": 1.0}, id="pid-float"),
    pytest.param((b"READY=1",), {}, id="status-bytes"),
    pytest.param(("READY=1\0",), {}, id="status-nul"),
    pytest.param(("READY=\udcff",), {}, id="status-surrogate"),
    pytest.param(("READY=1",), {"fds": [socket]}, id="fds-not-int"),
    pytest.param(("READY=1",), {"fds": [2**31]}, id="fds-overflow"),
    pytest.param(("READY=1",), {"fds": 5}, id="fds-not-sequence"),
    pytest.param(("READY=1", False, 0, [], 5), {}, id="too-many-arguments"),
]
SOCKETS = [
    "unset",
    "path",
    "abstract",
    "stream-socket",
    "dev-null",
    "directory",
    "missing",
    "relative",
    "empty",
    "slash",
    "at",
    "too-long",
]


@pytest.mark.parametrize("where", SOCKETS)
@pytest.mark.parametrize(("args", "kwargs"), ARGUMENTS)
def test_notify_agrees_with_libsystemd(  # noqa: PLR0917 - fixtures and parameters
    real: ModuleType,
    targets: Targets,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Same result or exception, and the receiver gets the same datagram from both."""
    if where == "unset":
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", targets.values[where])
    receiver = targets.receiver(where)
    seen = []
    for module in (real, ours):
        result = outcome(module.notify, *args, **kwargs)
        got = receiver.drain() if receiver else []
        seen.append((result, got))
    assert seen[1] == seen[0]


@pytest.mark.parametrize("where", ["path", "abstract"])
def test_the_receiver_really_gets_messages(
    targets: Targets, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The comparison above is not empty: a sent message arrives, with its fds and our pid."""
    monkeypatch.setenv("NOTIFY_SOCKET", targets.values[where])
    assert ours.notify("READY=1", fds=[1, 2]) is True
    receiver = targets.receiver(where)
    assert receiver is not None
    assert receiver.drain() == [(b"READY=1", 2, os.getpid())]


@pytest.mark.parametrize("where", ["unset", "path", "missing"])
def test_unset_environment_clears_c_environ_in_both_and_os_environ_in_ours(
    real: ModuleType, targets: Targets, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """unset_environment=True: both unset NOTIFY_SOCKET in C; only ours also in os.environ."""
    after = {}
    for module in (real, ours):
        if where == "unset":
            monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        else:
            monkeypatch.setenv("NOTIFY_SOCKET", targets.values[where])
        outcome(module.notify, "READY=1", True)
        after[module] = (c_getenv("NOTIFY_SOCKET"), os.environ.get("NOTIFY_SOCKET"))
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    expected_real = (None, None if where == "unset" else targets.values[where])
    assert after[real] == expected_real
    assert after[ours] == (None, None)


def test_a_vsock_notify_socket_is_tried_where_libsystemd_252_refuses_it(
    real: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliberate: systemd 253+ hands out vsock addresses (VMs); 252's parser says EINVAL."""
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert outcome(real.notify, "READY=1")[1:3] == (OSError, errno.EINVAL)
    found = outcome(ours.notify, "READY=1")
    # sent, or (no vsock transport here) the socket layer's errno: never the parser's EINVAL
    assert found == ("returned", True) or found[2] != errno.EINVAL
