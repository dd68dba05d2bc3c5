"""Our reading of .socket units equals a real systemd 252 user manager's.

For units with several ``Listen*=`` lines (mixed types, specifiers, drop-ins, resets, lines
systemd ignores), the addresses, types, names and order that :mod:`socket_activation.sources.unit`
derives equal what ``systemctl --user show -p Listen -p FileDescriptorName`` reports, and what an
activated process actually receives.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from socket_activation.net.address import AddressKind, ListenAddress
from socket_activation.sources import load_config
from socket_activation.sources.unit import read_socket_unit
from tests.integration.report_child import read_report, report_command
from tests.integration.usermanager import UserManager, exec_quote, parse_listen

pytestmark = pytest.mark.integration

_SHOWN_TYPE = {"stream": "Stream", "datagram": "Datagram", "seqpacket": "SequentialPacket"}


def shown_form(address: ListenAddress) -> tuple[str, str]:
    """How ``systemctl show -p Listen`` prints an address: (TYPE, ADDRESS); R63 port-only is
    printed as [::]:PORT."""
    body = address.body
    if address.kind is AddressKind.INET and address.host is None:
        body = f"[::]:{address.port}"
    return _SHOWN_TYPE[address.transport.value], body


def ours(path: Path, um: UserManager, name: str | None = None) -> dict[str, Any]:
    result = read_socket_unit(path, name=name, environ=um.env)
    return {
        "Listen": [shown_form(spec["address"]) for spec in result.listen],
        "FileDescriptorName": {spec["name"] for spec in result.listen},
    }


def theirs(um: UserManager, unit: str) -> dict[str, Any]:
    shown = um.show(unit, "Listen", "FileDescriptorName", "LoadState")
    assert shown["LoadState"] == "loaded", shown
    return {
        "Listen": parse_listen(shown.get("Listen", "")),
        "FileDescriptorName": {shown["FileDescriptorName"]},
    }


UNITS = {
    "mixed-types": (
        "[Socket]\nListenStream=127.0.0.1:41001\nListenDatagram=127.0.0.1:41002\n"
        "ListenStream=[::1]:41003\nListenSequentialPacket=@sa-parity-seq\n"
        "ListenStream=41004\nFileDescriptorName=web\n",
        None,
    ),
    "specifiers": (
        "[Socket]\nListenStream=%t/sa-%N.sock\nListenDatagram=@%p-dg\n"
        "ListenStream=/tmp/sa-%%-lit.sock\nFileDescriptorName=%N\n",
        None,
    ),
    "reset-and-ignored": (
        "[Socket]\nListenStream=127.0.0.1:41010\nListenStream=\nListenStream=0\n"
        "ListenStream=127.0.0.1\nListenStream=127.0.0.1:41011\nListenDatagram=rel/path\n"
        "ListenDatagram=[::1]:41012\n",
        None,
    ),
    "continuation-and-comments": (
        "[Socket]\n# ListenStream=127.0.0.1:1\nListenStream=127.0.0.1:41020\n"
        "; ListenStream=127.0.0.1:2\nFileDescriptorName=a\\\n# inside\nb\n"
        "  ListenStream = /tmp/sa-c.sock\n",
        None,
    ),
    "drop-in-overrides": (
        "[Socket]\nListenStream=127.0.0.1:41030\nFileDescriptorName=first\n",
        {
            "10-add.conf": "[Socket]\nListenDatagram=127.0.0.1:41031\n",
            "20-reset.conf": "[Socket]\nListenStream=\nListenStream=127.0.0.1:41032\n"
            "FileDescriptorName=second\n",
        },
    ),
}


@pytest.mark.parametrize("case", sorted(UNITS))
def test_listen_addresses_names_and_order_equal_the_managers(
    user_manager: UserManager, user_units: str, case: str
) -> None:
    """Our parse of a unit gives the Listen list and name `systemctl --user show` reports."""
    um = user_manager
    text, dropins = UNITS[case]
    name = f"{user_units}-p.socket"
    path = um.write_unit(name, text)
    um.write_unit(f"{user_units}-p.service", "[Service]\nExecStart=/bin/true\n")
    for file_name, body in (dropins or {}).items():
        directory = um.unit_dir / f"{name}.d"
        directory.mkdir(exist_ok=True)
        (directory / file_name).write_text(body)
    um.daemon_reload()
    assert ours(path, um) == theirs(um, name)


def test_a_template_instance_expands_i_like_the_manager(
    user_manager: UserManager, user_units: str
) -> None:
    """foo@bar.socket loaded from foo@.socket: %i, %I and the template drop-in agree."""
    um = user_manager
    template = f"{user_units}-t@.socket"
    path = um.write_unit(template, "[Socket]\nListenStream=/tmp/sa-%i.sock\nAccept=no\n")
    directory = um.unit_dir / f"{template}.d"
    directory.mkdir(exist_ok=True)
    (directory / "x.conf").write_text("[Socket]\nListenDatagram=@sa-%I-%j\n")
    um.write_unit(f"{user_units}-t@.service", "[Service]\nExecStart=/bin/true\n")
    um.daemon_reload()
    instance = f"{user_units}-t@inst.socket"
    assert ours(path, um, name=instance) == theirs(um, instance)


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_activated_process_receives_what_we_parse(
    user_manager: UserManager, user_units: str, short_tmp: str
) -> None:
    """Started by the manager, the service gets our specs: names, kinds, addresses, order."""
    um, prefix = user_manager, user_units
    tcp, udp, tcp2 = (
        free_port(socket.SOCK_STREAM),
        free_port(socket.SOCK_DGRAM),
        free_port(socket.SOCK_STREAM),
    )
    out = Path(short_tmp) / "report.json"
    path = um.write_unit(
        f"{prefix}-r.socket",
        f"[Socket]\nListenDatagram=127.0.0.1:{udp}\nListenStream={short_tmp}/r.sock\n"
        f"ListenStream=127.0.0.1:{tcp}\nListenSequentialPacket={short_tmp}/q.sock\n"
        f"ListenStream=127.0.0.1:{tcp2}\nFileDescriptorName=parity\n",
    )
    um.write_unit(
        f"{prefix}-r.service",
        f"[Service]\nExecStart={exec_quote(*report_command(out, '--stay'))}\n",
    )
    um.daemon_reload()
    config = load_config(unit=path, env_prefix=None, environ=um.env)
    expected = [
        (spec.name, spec.address.kind_name, spec.address.body) for spec in config.listen_specs()
    ]

    um.systemctl("start", f"{prefix}-r.socket")
    um.wait_for(f"{prefix}-r.socket", "SubState", "listening")
    with socket.create_connection(("127.0.0.1", tcp), timeout=5):
        report = read_report(out)
    um.wait_for(f"{prefix}-r.service", "ActiveState", "active")

    received = [(fd["name"], fd["kind"], fd["address"]) for fd in report["fds"]]
    assert received == expected
    assert [fd["fd"] for fd in report["fds"]] == list(range(3, 3 + len(expected)))
