"""The fd store messages against a real datagram socket playing the manager (SPEC.md H, R19)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from socket_activation._errors import NotifyMessageError
from socket_activation.systemd.fdstore import check_fdname, fdstore_add, fdstore_remove
from socket_activation.systemd.notify import NotifyResult
from tests.support.notify_manager import FakeManager, abstract_manager, path_manager


@pytest.fixture(params=["path", "abstract"])
def manager(request: pytest.FixtureRequest) -> Iterator[FakeManager]:
    yield from (path_manager() if request.param == "path" else abstract_manager())


def test_stored_listening_socket_arrives_named_and_usable(manager: FakeManager) -> None:
    """FDSTORE=1 + FDNAME=: the manager gets exactly that message and a socket that accepts."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert fdstore_add(server, "web", environ=manager.env) is NotifyResult.SENT
        got = manager.receive()
        assert got.payload == b"FDSTORE=1\nFDNAME=web"
        assert len(got.fds) == 1
        assert os.fstat(got.fds[0]).st_ino == os.fstat(server.fileno()).st_ino
        with (
            socket.socket(fileno=os.dup(got.fds[0])) as stored,
            socket.create_connection(server.getsockname(), timeout=5),
        ):
            conn, _ = stored.accept()
            conn.close()
        assert server.fileno() >= 0, "our own copy stays open"


def test_fdpoll_0_is_sent_when_polling_is_off(manager: FakeManager) -> None:
    """R54: poll=False adds FDPOLL=0 so systemd keeps an fd that reports POLLHUP."""
    read_end, write_end = os.pipe()
    try:
        fdstore_add([read_end], "state", poll=False, environ=manager.env)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert manager.receive().payload == b"FDSTORE=1\nFDNAME=state\nFDPOLL=0"


def test_several_fds_share_one_name_in_one_message(manager: FakeManager) -> None:
    """R39: FDNAME applies to every fd of the message; all travel together."""
    with (
        socket.create_server(("127.0.0.1", 0)) as tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
    ):
        udp.bind(("127.0.0.1", 0))
        fdstore_add([tcp, udp.fileno()], "dns", environ=manager.env)
        got = manager.receive()
    assert (got.payload, len(got.fds), got.rights_messages) == (b"FDSTORE=1\nFDNAME=dns", 2, 1)


def test_remove_sends_fdstoreremove_without_fds(manager: FakeManager) -> None:
    """R55: FDSTOREREMOVE=1 + FDNAME= removes every fd of that name."""
    assert fdstore_remove("web", environ=manager.env) is NotifyResult.SENT
    got = manager.receive()
    assert (got.payload, got.fds) == (b"FDSTOREREMOVE=1\nFDNAME=web", [])


def test_store_without_a_manager_is_not_configured() -> None:
    """Outside systemd, storing is a no-op that says so."""
    read_end, write_end = os.pipe()
    try:
        assert fdstore_add(read_end, "x", environ={}) is NotifyResult.NOT_CONFIGURED
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("web", id="word"),
        pytest.param("with space", id="space"),
        pytest.param("~!@#$%^&*()", id="punctuation"),
        pytest.param("a" * 255, id="255-chars"),
    ],
)
def test_valid_fd_names(name: str) -> None:
    """R19: printable ASCII except ':', up to 255 characters, empty allowed."""
    assert check_fdname(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a:b", id="colon"),
        pytest.param("a" * 256, id="256-chars"),
        pytest.param("tab\there", id="tab"),
        pytest.param("new\nline", id="newline"),
        pytest.param("del\x7f", id="del"),
        pytest.param("caf\u00e9", id="non-ascii"),
    ],
)
def test_invalid_fd_names_are_refused_before_sending(manager: FakeManager, name: str) -> None:
    """R19/R39: systemd would rename the fd "stored"; we raise naming the name instead."""
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(NotifyMessageError, match="fd name"):
            fdstore_add(read_end, name, environ=manager.env)
        with pytest.raises(NotifyMessageError, match="fd name"):
            fdstore_remove(name, environ=manager.env)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert manager.drain() == []


def test_storing_nothing_is_refused() -> None:
    """An empty fd list would store nothing: refused, naming the name."""
    with pytest.raises(NotifyMessageError, match="'web'"):
        fdstore_add([], "web", environ={})
