"""sd_is_*() in pure Python against libsystemd's own, on a zoo of real fds.

Every socket family and state this machine can make (TCP and UDP over IPv4 and IPv6, listening,
bound, unbound; Unix stream, datagram and seqpacket at a path, an abstract name and unnamed;
netlink), a FIFO, a pipe, a regular file, /dev/null, a directory, a closed fd and -1: each is
asked every question ``systemd.daemon``'s ``is_*()`` can ask, with good and bad arguments, through
python-systemd (libsystemd 252) and through socket_activation.daemon. The answers, or the
exception type, errno and filename, must be the same. POSIX message queues need a mount:
tests/integration/test_daemon_namespaces.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from socket_activation import daemon as ours
from tests.support.oracle import outcome, systemd_daemon

FAMILIES = (0, socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK, -1, 999)
TYPES = (0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET, -1)
LISTENING = (-1, 0, 1, 2)


@pytest.fixture(scope="module")
def real() -> ModuleType:
    return systemd_daemon()


class Zoo:
    """Real fds of every kind, each with the answers a question about it may expect."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sockets: list[socket.socket] = []
        self.fds: dict[str, Any] = {}
        self.ports: dict[str, int] = {}
        self._inet("tcp4-listening", socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", True)
        self._inet("tcp4-bound", socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", False)
        self._inet("tcp4-unbound", socket.AF_INET, socket.SOCK_STREAM, None, False)
        self._inet("tcp6-listening", socket.AF_INET6, socket.SOCK_STREAM, "::1", True)
        self._inet("tcp6-dual-stack", socket.AF_INET6, socket.SOCK_STREAM, "::", True)
        self._inet("udp4", socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", False)
        self._inet("udp6", socket.AF_INET6, socket.SOCK_DGRAM, "::1", False)
        self._unix("unix-stream-path", socket.SOCK_STREAM, str(root / "stream"))
        self._unix("unix-dgram-path", socket.SOCK_DGRAM, str(root / "dgram"))
        self._unix("unix-seqpacket-abstract", socket.SOCK_SEQPACKET, f"\0sa-zoo-{os.getpid()}")
        left, right = socket.socketpair()
        self.sockets += [left, right]
        self.fds["unix-unnamed-pair"] = left
        netlink = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        self.sockets.append(netlink)
        self.fds["netlink"] = netlink
        os.mkfifo(root / "fifo")
        self.fds["fifo"] = os.open(root / "fifo", os.O_RDONLY | os.O_NONBLOCK)
        self.pipe = os.pipe()
        self.fds["pipe"] = self.pipe[0]
        (root / "file").write_text("x")
        self.fds["file"] = os.open(root / "file", os.O_RDONLY)
        self.fds["dev-null"] = os.open(os.devnull, os.O_RDONLY)
        self.fds["directory"] = os.open(root, os.O_RDONLY)
        closed = os.open(os.devnull, os.O_RDONLY)
        os.close(closed)
        self.fds["closed"] = closed
        self.fds["negative"] = -1

    def _inet(self, name: str, family: int, kind: int, host: str | None, listen: bool) -> None:
        sock = socket.socket(family, kind)
        self.sockets.append(sock)
        if host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if host is not None:
            sock.bind((host, 0))
            self.ports[name] = sock.getsockname()[1]
        if listen:
            sock.listen()
        self.fds[name] = sock

    def _unix(self, name: str, kind: int, address: str) -> None:
        sock = socket.socket(socket.AF_UNIX, kind)
        self.sockets.append(sock)
        sock.bind(address)
        if kind != socket.SOCK_DGRAM:
            sock.listen()
        self.fds[name] = sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        for name in ("fifo", "file", "dev-null", "directory"):
            os.close(self.fds[name])
        os.close(self.pipe[0])
        os.close(self.pipe[1])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    made = Zoo(Path(os.path.realpath(tmp_path_factory.mktemp("zoo", numbered=True))))
    try:
        yield made
    finally:
        made.close()


def questions(zoo: Zoo, name: str) -> Iterator[tuple[Any, ...]]:
    """Every (function, args...) asked about fd *name*: as the object and as its number."""
    obj = zoo.fds[name]
    number = obj.fileno() if isinstance(obj, socket.socket) else obj
    port = zoo.ports.get(name, 1)
    root = zoo.root
    paths = [None, root / "fifo", root / "missing", root / "file" / "x", str(root / "file"), ""]
    unix_paths = [None, str(root / "stream"), str(root / "dgram"), str(root / "other"), "", b"/x"]
    unix_paths += [f"@sa-zoo-{os.getpid()}"]
    addresses = ["127.0.0.1", f"127.0.0.1:{port}", "[::1]", f"[::1]:{port}", "[::]", str(port)]
    addresses += [f"lo:{port}", "lo", "0.0.0.0", f"127.0.0.1:0x{port:x}", "127.0.0.1:-1"]
    addresses += ["127.0.0.1:99999999999999999999", "[::1]x", "1.2.3"]
    for arg in (obj, number):
        for path in paths:
            yield ("is_fifo", arg, path)
        for family in FAMILIES:
            for kind in TYPES:
                for listening in LISTENING:
                    yield ("is_socket", arg, family, kind, listening)
                    if family in (0, socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
                        for want_port in (0, port, 1, -1, 65536):
                            yield ("is_socket_inet", arg, family, kind, listening, want_port)
        for kind in TYPES:
            for listening in LISTENING[:3]:
                for unix_path in unix_paths:
                    yield ("is_socket_unix", arg, kind, listening, unix_path)
                for address in addresses:
                    for flowinfo in (0, 1):
                        yield ("is_socket_sockaddr", arg, address, kind, flowinfo, listening)
        yield ("is_mq", arg)
        yield ("is_mq", arg, "/sa-no-such-queue")
        yield ("is_mq", arg, "relative")


FD_NAMES = [
    "tcp4-listening",
    "tcp4-bound",
    "tcp4-unbound",
    "tcp6-listening",
    "tcp6-dual-stack",
    "udp4",
    "udp6",
    "unix-stream-path",
    "unix-dgram-path",
    "unix-seqpacket-abstract",
    "unix-unnamed-pair",
    "netlink",
    "fifo",
    "pipe",
    "file",
    "dev-null",
    "directory",
    "closed",
    "negative",
]


@pytest.mark.parametrize("name", FD_NAMES)
def test_every_question_gets_libsystemds_answer(real: ModuleType, zoo: Zoo, name: str) -> None:
    """Same bool, or same exception type, errno and filename, for every question."""
    asked = 0
    differ = []
    for function, *args in questions(zoo, name):
        asked += 1
        theirs = outcome(getattr(real, function), *args)
        mine = outcome(getattr(ours, function), *args)
        if mine != theirs:
            differ.append((function, args, theirs, mine))
    assert differ == []
    assert asked > 1000


@pytest.mark.parametrize(
    ("name", "function", "args", "expected"),
    [
        pytest.param("tcp4-listening", "is_socket_inet", (socket.AF_INET, 1, 1), True, id="tcp"),
        pytest.param("tcp4-listening", "is_socket_inet", (socket.AF_INET6,), False, id="not-v6"),
        pytest.param("udp6", "is_socket", (socket.AF_INET6, socket.SOCK_DGRAM, 0), True, id="udp"),
        pytest.param("udp6", "is_socket", (0, 0, 1), False, id="udp-never-listens"),
        pytest.param("unix-unnamed-pair", "is_socket_unix", (0, -1, ""), True, id="unnamed"),
        pytest.param("unix-stream-path", "is_socket_unix", (0, -1, ""), False, id="named-not-"),
        pytest.param("fifo", "is_fifo", (), True, id="fifo"),
        pytest.param("pipe", "is_fifo", (), True, id="pipe-is-a-fifo"),
        pytest.param("file", "is_fifo", (), False, id="file-is-no-fifo"),
        pytest.param("netlink", "is_socket", (socket.AF_NETLINK,), True, id="netlink"),
        pytest.param("dev-null", "is_mq", (), False, id="dev-null-no-queue"),
        pytest.param("directory", "is_socket", (), False, id="directory"),
    ],
)
def test_known_answers_without_the_oracle(
    zoo: Zoo, name: str, function: str, args: tuple[Any, ...], expected: bool
) -> None:
    """A few answers from sd_is_socket(3) and friends, checked where python-systemd is absent."""
    assert getattr(ours, function)(zoo.fds[name], *args) is expected


def test_the_fifo_at_its_path_and_a_missing_path(zoo: Zoo) -> None:
    """A path must name that very FIFO; a missing one is False, a bad fd raises with it."""
    fifo = zoo.fds["fifo"]
    assert ours.is_fifo(fifo, zoo.root / "fifo") is True
    assert ours.is_fifo(fifo, zoo.root / "missing") is False
    with pytest.raises(OSError, match="Bad file descriptor") as info:
        ours.is_fifo(-1, "/some/path")
    assert info.value.filename == "/some/path"


def test_a_default_timeout_does_not_make_the_fd_non_blocking(zoo: Zoo) -> None:
    """Looking at an fd never changes it, even under socket.setdefaulttimeout()."""
    sock = zoo.fds["tcp4-listening"]
    assert sock.getblocking()
    socket.setdefaulttimeout(5.0)
    try:
        assert ours.is_socket(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM, 1)
    finally:
        socket.setdefaulttimeout(None)
    assert os.get_blocking(sock.fileno())
