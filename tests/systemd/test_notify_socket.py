"""The NOTIFY_SOCKET grammar: path, abstract and vsock values parse like libsystemd (R29, R30)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from socket_activation._errors import NotifyError
from socket_activation.systemd.notify_send import notify
from socket_activation.systemd.notify_socket import parse_notify_socket


@pytest.mark.parametrize(
    ("value", "family", "sock_type", "address"),
    [
        pytest.param("/run/notify", socket.AF_UNIX, socket.SOCK_DGRAM, b"/run/notify", id="path"),
        pytest.param("@sd", socket.AF_UNIX, socket.SOCK_DGRAM, b"\0sd", id="abstract-no-nul"),
        pytest.param("vsock:2:1234", socket.AF_VSOCK, 0, (2, 1234), id="vsock"),
        pytest.param("vsock-stream:host:5", socket.AF_VSOCK, socket.SOCK_STREAM, (2, 5), id="vs"),
        pytest.param(
            "vsock-dgram:hypervisor:7", socket.AF_VSOCK, socket.SOCK_DGRAM, (0, 7), id="vd"
        ),
        pytest.param(
            "vsock-seqpacket:local:0x10", socket.AF_VSOCK, socket.SOCK_SEQPACKET, (1, 16), id="vq"
        ),
        pytest.param("vsock:3:0", socket.AF_VSOCK, 0, (3, 0), id="vsock-port-0"),
    ],
)
def test_notify_socket_values_parse_like_libsystemd(
    value: str, family: int, sock_type: int, address: object
) -> None:
    """R29/R30: path, abstract (leading NUL, no trailing NUL) and the vsock forms."""
    parsed = parse_notify_socket(value)
    assert (parsed.family, parsed.type, parsed.address) == (family, sock_type, address)


@pytest.mark.parametrize(
    ("value", "err"),
    [
        pytest.param("", errno.EINVAL, id="empty"),
        pytest.param("/", errno.EINVAL, id="slash-only"),
        pytest.param("@", errno.EINVAL, id="at-only"),
        pytest.param("run/notify", errno.EINVAL, id="relative"),
        pytest.param("/" + "a" * 107, errno.ENAMETOOLONG, id="path-108-bytes"),
        pytest.param("@" + "a" * 107, errno.EINVAL, id="abstract-108-bytes"),
        pytest.param("vsock:2", errno.EINVAL, id="vsock-no-port"),
        pytest.param("vsock::1234", errno.EINVAL, id="vsock-empty-cid"),
        pytest.param("vsock:any:1234", errno.EINVAL, id="vsock-any-cid"),
        pytest.param("vsock:2:4294967295", errno.EINVAL, id="vsock-port-any"),
        pytest.param("vsock:2:4294967296", errno.ERANGE, id="vsock-port-overflow"),
        pytest.param("vsock:2:x", errno.EINVAL, id="vsock-port-garbage"),
        pytest.param("tcp:127.0.0.1:1", errno.EINVAL, id="other-scheme"),
    ],
)
def test_bad_notify_socket_values_fail_with_libsystemds_errno(value: str, err: int) -> None:
    """R29/R30: malformed NOTIFY_SOCKET fails (NotifyError) with the errno libsystemd returns."""
    with pytest.raises(NotifyError) as info:
        notify("READY=1", environ={"NOTIFY_SOCKET": value})
    assert info.value.errno == err
    assert f"NOTIFY_SOCKET={value!r}" in str(info.value)


def test_a_107_byte_path_is_the_longest_accepted(short_dir: Path) -> None:
    """R29: strlen+1 must fit in sun_path[108]: a real socket at a 107-byte path is reached."""
    path = str(short_dir / "n")
    path += "x" * (107 - len(path))
    assert len(path.encode()) == 107
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        notify("READY=1", environ={"NOTIFY_SOCKET": path})
        assert sock.recv(100) == b"READY=1"
