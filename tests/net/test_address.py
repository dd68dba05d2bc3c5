"""ListenAddress: one grammar that parses and prints back, with errors that quote the input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socket_activation import AddressError, AddressKind, ListenAddress, Transport


@pytest.mark.parametrize(
    ("text", "kind", "transport", "kind_name"),
    [
        pytest.param("8080", AddressKind.INET, Transport.STREAM, "tcp", id="port-only"),
        pytest.param("127.0.0.1:80", AddressKind.INET, Transport.STREAM, "tcp", id="ipv4"),
        pytest.param("[::1]:80", AddressKind.INET, Transport.STREAM, "tcp", id="ipv6"),
        pytest.param("[fe80::1]:80%lo", AddressKind.INET, Transport.STREAM, "tcp", id="scope"),
        pytest.param("localhost:8000", AddressKind.INET, Transport.STREAM, "tcp", id="hostname"),
        pytest.param("/run/app.sock", AddressKind.UNIX, Transport.STREAM, "unix-stream", id="path"),
        pytest.param("@app", AddressKind.ABSTRACT, Transport.STREAM, "unix-stream", id="abstract"),
        pytest.param("datagram:[::]:443", AddressKind.INET, Transport.DATAGRAM, "udp", id="udp"),
        pytest.param(
            "seqpacket:/run/s", AddressKind.UNIX, Transport.SEQPACKET, "unix-seqpacket", id="seq"
        ),
        pytest.param(
            "datagram:@log", AddressKind.ABSTRACT, Transport.DATAGRAM, "unix-dgram", id="ad"
        ),
        pytest.param("vsock:2:1234", AddressKind.VSOCK, Transport.STREAM, "vsock-stream", id="vs"),
        pytest.param("vsock::1234", AddressKind.VSOCK, Transport.STREAM, "vsock-stream", id="vsa"),
    ],
)
def test_parse_and_print_round_trip(
    text: str, kind: AddressKind, transport: Transport, kind_name: str
) -> None:
    """Every form of the grammar parses to its kind and prints back as written."""
    address = ListenAddress.parse(text)
    assert address.kind is kind
    assert address.transport is transport
    assert address.kind_name == kind_name
    assert str(address) == text
    assert ListenAddress.parse(str(address)) == address


def test_ipv6_is_printed_compressed() -> None:
    """IPv6 literals are normalised, so equal addresses compare equal."""
    assert str(ListenAddress.parse("[0:0::0001]:80")) == "[::1]:80"


def test_transport_argument_applies_without_prefix() -> None:
    """The transport argument sets the type; a prefix in the text wins."""
    assert ListenAddress.parse("127.0.0.1:53", "datagram").transport is Transport.DATAGRAM
    assert ListenAddress.parse("stream:127.0.0.1:53", "datagram").transport is Transport.STREAM


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("127.0.0.1", "invalid listen address", id="bare-ipv4"),
        pytest.param("::1", "invalid listen address", id="bare-ipv6"),
        pytest.param("[::1]", "expected [ADDRESS]:PORT", id="ipv6-no-port"),
        pytest.param("[::1%lo]:80", "invalid IPv6 address", id="scope-inside-brackets"),
        pytest.param("relative/path", "invalid", id="relative-path"),
        pytest.param("70000", "out of range", id="port-too-big"),
        pytest.param("1.2.3:80", "invalid host", id="bad-ipv4"),
        pytest.param("host:port", "invalid port", id="bad-port"),
        pytest.param("@", "abstract socket name is empty", id="empty-abstract"),
        pytest.param("/" + "a" * 120, "107-byte limit", id="long-path"),
        pytest.param("seqpacket:127.0.0.1:1", "seqpacket", id="seqpacket-ip"),
        pytest.param("vsock:x:1", "invalid vsock CID", id="vsock-cid"),
    ],
)
def test_invalid_addresses_raise_with_the_input_quoted(text: str, fragment: str) -> None:
    """Bad addresses raise AddressError (a ValueError) naming the problem."""
    with pytest.raises(AddressError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        ListenAddress.parse(text)


def test_port_zero_is_refused_in_unit_file_mode() -> None:
    """systemd refuses port 0 in Listen*= (R65); the library allows it elsewhere."""
    assert ListenAddress.parse("0").port == 0
    with pytest.raises(AddressError, match=r"out of range 1\.\.65535"):
        ListenAddress.parse("127.0.0.1:0", allow_port_zero=False)


def test_systemd_directive_per_transport() -> None:
    """Each transport maps to its systemd.socket directive."""
    assert [t.directive for t in Transport] == [
        "ListenStream",
        "ListenDatagram",
        "ListenSequentialPacket",
    ]


@given(
    st.one_of(
        st.integers(0, 65535).map(str),
        st.tuples(st.ip_addresses(v=4), st.integers(0, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
        st.tuples(st.ip_addresses(v=6), st.integers(0, 65535)).map(lambda t: f"[{t[0]}]:{t[1]}"),
        st.from_regex(r"/[a-z0-9_.-]{1,40}", fullmatch=True),
        st.from_regex(r"@[a-z0-9_.-]{1,40}", fullmatch=True),
    ),
    st.sampled_from(["", "datagram:", "stream:"]),
)
def test_any_valid_address_round_trips(body: str, prefix: str) -> None:
    """Parsing what str() printed gives the same address back."""
    address = ListenAddress.parse(prefix + body)
    assert ListenAddress.parse(str(address)) == address


@given(st.text(max_size=60))
def test_arbitrary_text_only_ever_raises_address_error(text: str) -> None:
    """No input makes the parser fail with anything but AddressError."""
    with contextlib.suppress(AddressError):
        ListenAddress.parse(text)
