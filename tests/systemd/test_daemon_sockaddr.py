"""The address text of is_socket_sockaddr(), parsed as python-systemd parses it.

A table of the binding's rules (its util.c ``parse_sockaddr``), then a hypothesis search that
feeds the same generated text to python-systemd and to ours, on a bound IPv4 and a bound IPv6
socket, and requires the same answer or the same exception type and errno.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socket_activation import daemon as ours
from socket_activation.systemd.daemon_sockaddr import ParsedSockaddr, SockaddrError, parse_sockaddr
from tests.support.oracle import outcome, systemd_daemon

V4, V6 = socket.AF_INET, socket.AF_INET6
LOOPBACK4 = socket.inet_pton(V4, "127.0.0.1")
LOOPBACK6 = socket.inet_pton(V6, "::1")
HAVE_IPV6 = os.path.exists("/proc/net/if_inet6")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1", ParsedSockaddr(V4, LOOPBACK4, 0), id="v4"),
        pytest.param("127.0.0.1:80", ParsedSockaddr(V4, LOOPBACK4, 80), id="v4-port"),
        pytest.param("127.0.0.1:0x50", ParsedSockaddr(V4, LOOPBACK4, 80), id="hex-port"),
        pytest.param("127.0.0.1:010", ParsedSockaddr(V4, LOOPBACK4, 8), id="octal-port"),
        pytest.param("127.0.0.1: 80", ParsedSockaddr(V4, LOOPBACK4, 80), id="space-before-port"),
        pytest.param("[::1]", ParsedSockaddr(V6, LOOPBACK6, 0), id="v6"),
        pytest.param("[::1]:80", ParsedSockaddr(V6, LOOPBACK6, 80), id="v6-port"),
        pytest.param("lo", ParsedSockaddr(V6, bytes(16), 0, socket.if_nametoindex("lo")), id="if"),
        pytest.param(
            "lo:80", ParsedSockaddr(V6, bytes(16), 80, socket.if_nametoindex("lo")), id="if-port"
        ),
        pytest.param(
            "80",
            ParsedSockaddr(V6, bytes(16), 80) if HAVE_IPV6 else ParsedSockaddr(V4, bytes(4), 80),
            id="port-only",
        ),
    ],
)
def test_addresses_the_binding_accepts(text: str, expected: ParsedSockaddr) -> None:
    assert parse_sockaddr(text) == expected


@pytest.mark.parametrize(
    ("text", "err"),
    [
        pytest.param("::1", errno.EINVAL, id="v6-needs-brackets"),
        pytest.param("[::1", errno.EINVAL, id="unclosed-bracket"),
        pytest.param("[::1]80", errno.EINVAL, id="no-colon-after-bracket"),
        pytest.param("[::1]:", errno.EINVAL, id="empty-port"),
        pytest.param("[::1%lo]:80", errno.EINVAL, id="scope-in-brackets"),
        pytest.param("127.0.0.1:0", errno.EINVAL, id="port-zero"),
        pytest.param("127.0.0.1:65536", errno.EINVAL, id="port-too-big"),
        pytest.param("127.0.0.1:-1", errno.ERANGE, id="negative-port"),
        pytest.param("127.0.0.1:99999999999999999999", errno.ERANGE, id="port-overflows"),
        pytest.param("127.0.0.1:80 ", errno.EINVAL, id="trailing-space"),
        pytest.param("0", errno.EINVAL, id="port-only-zero"),
        pytest.param("1.2.3", errno.EINVAL, id="short-v4"),
        pytest.param("no-such-interface0", errno.EINVAL, id="long-interface-name"),
        pytest.param("nosuchif", errno.EINVAL, id="unknown-interface"),
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("1\u0130", errno.EINVAL, id="non-ascii"),
    ],
)
def test_addresses_the_binding_refuses_with_its_errno(text: str, err: int) -> None:
    with pytest.raises(SockaddrError) as info:
        parse_sockaddr(text)
    assert info.value.errno == err
    assert repr(text) in str(info.value)


def test_einval_is_a_valueerror_and_erange_an_oserror_as_in_the_binding() -> None:
    """set_error() turns EINVAL into ValueError("Cannot parse address"), ERANGE into OSError."""
    with socket.socket() as sock:
        with pytest.raises(ValueError, match="Cannot parse address"):
            ours.is_socket_sockaddr(sock, "::1")
        with pytest.raises(OSError) as info:  # noqa: PT011
            ours.is_socket_sockaddr(sock, "127.0.0.1:-1")
        assert info.value.errno == errno.ERANGE


@pytest.fixture(scope="module")
def real() -> ModuleType:
    return systemd_daemon()


@pytest.fixture(scope="module")
def bound() -> Iterator[tuple[socket.socket, socket.socket]]:
    v4 = socket.socket(V4)
    v4.bind(("127.0.0.1", 0))
    v6 = socket.socket(V6)
    v6.bind(("::1", 0))
    try:
        yield v4, v6
    finally:
        v4.close()
        v6.close()


def _pieces(ports: tuple[int, int]) -> st.SearchStrategy[str]:
    words = ["127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "lo", "eth0", "[", "]", ":"]
    words += ["%", ".", "-", "+", " ", "\t", "0", "1", "0x", "0o", "0b", "9" * 12, "ffff"]
    words += ["\u0130", "\xe9", *(str(port) for port in ports)]
    return st.lists(st.sampled_from(words), max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_generated_addresses_get_the_bindings_answer(
    real: ModuleType, bound: tuple[socket.socket, socket.socket], data: st.DataObject
) -> None:
    """Any text built from address pieces: same bool, or same exception type and errno."""
    ports = (bound[0].getsockname()[1], bound[1].getsockname()[1])
    text = data.draw(_pieces(ports))
    flowinfo = data.draw(st.sampled_from([0, 1, 2**31 - 1, -1]))
    for sock in bound:
        args = (sock.fileno(), text, 0, flowinfo)
        assert outcome(ours._is_socket_sockaddr, *args) == outcome(real._is_socket_sockaddr, *args)
