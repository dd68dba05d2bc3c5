"""The .socket unit source: every directive, order, resets, warnings vs errors, shipped units."""

from __future__ import annotations

import glob
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from socket_activation._errors import UnitFileError
from socket_activation.config import ServerConfig
from socket_activation.sources import load_config
from socket_activation.sources.unit import read_socket_unit, read_units
from tests.conftest import require, require_tool

ENV = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u"}


def unit(tmp_path: Path, body: str, name: str = "app.socket") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def load(path: Path | list[Path], **kwargs: Any) -> ServerConfig:
    kwargs.setdefault("on_warning", lambda message: None)
    return load_config(unit=path, env_prefix=None, environ=ENV, **kwargs)


def specs(config: ServerConfig) -> list[tuple[str, str | None]]:
    return [(str(s.address), s.name) for s in config.listen_specs()]


# -- shipped units ----------------------------------------------------------------------------

SHIPPED = sorted(
    glob.glob("/usr/lib/systemd/system/*.socket") + glob.glob("/usr/lib/systemd/user/*.socket")
)


@pytest.mark.parametrize("path", SHIPPED or ["(none)"], ids=lambda p: p.split("/lib/")[-1])
def test_every_socket_unit_shipped_on_this_machine_loads(path: str) -> None:
    """Each shipped .socket unit loads; ports the library does not open are notes naming the
    line, and a unit with nothing else gives no config, with an error naming those lines."""
    require(path != "(none)", "no systemd .socket units installed")
    name = path.rpartition("/")[2].replace("@.", "@i.")
    result = read_socket_unit(path, name=name, environ=ENV)
    for where in result.unsupported:
        assert re.fullmatch(re.escape(path) + r":\d+", where)
        assert any(n.startswith(where) and "not supported" in n for n in result.notes)
    if result.listen:
        return
    assert result.unsupported
    with pytest.raises(
        UnitFileError, match="not supported by socket-activation .*" + re.escape(path)
    ):
        read_units([path], names=[name], environ=ENV)


def test_shipped_units_under_systemd_user_expand_t_to_the_runtime_dir() -> None:
    """%t in a unit of /usr/lib/systemd/user is $XDG_RUNTIME_DIR (user manager)."""
    path = Path("/usr/lib/systemd/user/dbus.socket")
    require(path.exists(), "dbus-user-session is not installed")
    assert specs(load(path)) == [("/run/user/1000/bus", "dbus.socket")]


# -- directives -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "field", "value"),
    [
        pytest.param("BindIPv6Only=ipv6-only", "bind_ipv6_only", "ipv6-only", id="BindIPv6Only"),
        pytest.param("", "bind_ipv6_only", "default", id="BindIPv6Only-default-R75"),
        pytest.param("Backlog=128", "backlog", 128, id="Backlog"),
        pytest.param("Backlog=4294967295", "backlog", 2**31 - 1, id="Backlog-capped-R74"),
        pytest.param("SocketMode=0600", "socket_mode", 0o600, id="SocketMode"),
        pytest.param("", "socket_mode", 0o666, id="SocketMode-default-0666-R76"),
        pytest.param("DirectoryMode=0700", "directory_mode", 0o700, id="DirectoryMode"),
        pytest.param("", "directory_mode", 0o755, id="DirectoryMode-default-0755-R76"),
        pytest.param("SocketUser=www", "socket_user", "www", id="SocketUser"),
        pytest.param("SocketGroup=%u", "socket_group", "root", id="SocketGroup-specifier"),
        pytest.param("ReusePort=yes", "reuse_port", True, id="ReusePort"),
        pytest.param("FreeBind=true", "free_bind", True, id="FreeBind"),
        pytest.param("Transparent=on", "transparent", True, id="Transparent"),
        pytest.param("BindToDevice=lo", "bind_to_device", "lo", id="BindToDevice"),
        pytest.param("KeepAlive=1", "keep_alive", True, id="KeepAlive"),
        pytest.param("NoDelay=no", "no_delay", False, id="NoDelay"),
        pytest.param("", "no_delay", None, id="NoDelay-kernel-default"),
        pytest.param("ReceiveBuffer=256K", "receive_buffer", 262144, id="ReceiveBuffer-R77"),
        pytest.param("SendBuffer=1M", "send_buffer", 1048576, id="SendBuffer"),
        pytest.param("DeferAcceptSec=2min 200ms", "defer_accept_sec", 120.2, id="DeferAcceptSec"),
        pytest.param("PassCredentials=yes", "pass_credentials", True, id="PassCredentials"),
        pytest.param("Accept=yes", "accept", True, id="Accept"),
        pytest.param("FileDescriptorName=web", "name", "web", id="FileDescriptorName"),
        pytest.param("", "name", "app.socket", id="FileDescriptorName-default-R78"),
        pytest.param("FileDescriptorName=%N-x", "name", "app-x", id="FileDescriptorName-spec"),
        pytest.param("FileDescriptorName=a:b", "name", "app.socket", id="invalid-name-keeps-R78"),
        pytest.param("Backlog=5\nBacklog=", "backlog", 5, id="empty-Backlog-is-ignored"),
        pytest.param("Backlog=0", "backlog", 0, id="Backlog-zero-is-valid"),
        pytest.param("BindIPv6Only=yes", "bind_ipv6_only", "ipv6-only", id="BindIPv6Only-yes"),
        pytest.param("BindIPv6Only=no", "bind_ipv6_only", "both", id="BindIPv6Only-no"),
        pytest.param("BindIPv6Only=both", "bind_ipv6_only", "both", id="BindIPv6Only-both"),
        pytest.param("BindIPv6Only=default", "bind_ipv6_only", "default", id="BindIPv6Only-dflt"),
        pytest.param("BindToDevice=lo\nBindToDevice=*", "bind_to_device", None, id="device-*"),
        pytest.param("BindToDevice=lo\nBindToDevice=", "bind_to_device", None, id="device-empty"),
        pytest.param("ReceiveBuffer=0", "receive_buffer", None, id="ReceiveBuffer-0-unset"),
        pytest.param("MaxConnections=3", "max_connections", 3, id="MaxConnections"),
        pytest.param("", "max_connections", 64, id="MaxConnections-default-R73"),
        pytest.param("ReusePort=yes\nReusePort=no", "reuse_port", False, id="last-one-wins"),
        pytest.param("Service=other.service", "name", "app.socket", id="Service-ignored"),
    ],
)
def test_each_socket_directive_sets_its_spec_option(
    tmp_path: Path, lines: str, field: str, value: object
) -> None:
    """Every directive that shapes the socket lands in the ListenSpec (systemd.socket(5))."""
    path = unit(tmp_path, f"[Socket]\nListenStream=/run/app.sock\n{lines}\n")
    (spec,) = load(path).listen_specs()
    assert getattr(spec, field) == value


@pytest.mark.parametrize(
    ("line", "key", "field", "kept"),
    [
        pytest.param("Backlog=many", "Backlog", "backlog", 9, id="Backlog"),
        pytest.param("Backlog=", "Backlog", "backlog", 9, id="Backlog-empty"),
        pytest.param("SocketMode=0999", "SocketMode", "socket_mode", 0o600, id="SocketMode"),
        pytest.param("ReusePort=perhaps", "ReusePort", "reuse_port", True, id="boolean"),
        pytest.param("ReusePort=", "ReusePort", "reuse_port", True, id="boolean-empty"),
        pytest.param("ReceiveBuffer=lots", "ReceiveBuffer", "receive_buffer", 1024, id="size"),
        pytest.param("DeferAcceptSec=soon", "DeferAcceptSec", "defer_accept_sec", 5, id="span"),
        pytest.param("BindIPv6Only=often", "BindIPv6Only", "bind_ipv6_only", "both", id="v6only"),
        pytest.param("BindToDevice=a/b", "BindToDevice", "bind_to_device", "lo", id="device"),
        pytest.param("FileDescriptorName=a:b", "FileDescriptorName", "name", "web", id="fdname"),
    ],
)
def test_a_value_systemd_ignores_is_a_warning_and_the_rest_loads(
    tmp_path: Path, line: str, key: str, field: str, kept: object
) -> None:
    """As systemd's parsers do: a warning naming file, line and key, the previous value kept,
    the rest of the unit loaded; strict=True makes it an error naming the same."""
    before = (
        "Backlog=9\nSocketMode=0600\nReusePort=yes\nReceiveBuffer=1K\nDeferAcceptSec=5\n"
        "BindIPv6Only=both\nBindToDevice=lo\nFileDescriptorName=web\n"
    )
    path = unit(tmp_path, f"[Socket]\nListenStream=/run/app.sock\n{before}{line}\n")
    warnings: list[str] = []
    (spec,) = load(path, on_warning=warnings.append).listen_specs()
    assert getattr(spec, field) == kept
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}:11: {key}=: "), warnings
    assert "ignoring" in warnings[0]
    with pytest.raises(UnitFileError) as caught:
        load(path, strict=True)
    assert (caught.value.path, caught.value.line, caught.value.key) == (str(path), 11, key)


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        pytest.param("SocketUser=a:b", 3, "Invalid user/group name", id="SocketUser"),
        pytest.param("SocketGroup=%z", 3, "specifiers", id="SocketGroup-specifier"),
        pytest.param("Accept=yes\nListenDatagram=127.0.0.1:9", 4, "non-accepting", id="dgram"),
        pytest.param("Accept=yes\nListenFIFO=/run/f", 4, "non-accepting", id="fifo"),
    ],
)
def test_what_systemd_refuses_is_an_error_naming_the_line(
    tmp_path: Path, lines: str, line: int, message: str
) -> None:
    """systemd refuses to load these units (socket_verify, config_parse_user_group_compat)."""
    path = unit(tmp_path, f"[Socket]\nListenStream=/run/app.sock\n{lines}\n")
    with pytest.raises(UnitFileError, match=message) as caught:
        load(path)
    assert (caught.value.path, caught.value.line) == (str(path), line)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param("Accept=yes\nMaxConnections=0", "MaxConnections=0", id="max-zero"),
        pytest.param("Accept=yes\nService=x.service", "Service=", id="accept-service"),
        pytest.param("Symlinks=/run/a /run/b\nListenStream=/run/b.sock", "Symlinks=", id="links"),
    ],
)
def test_what_socket_verify_refuses_is_an_error_naming_the_unit(
    tmp_path: Path, lines: str, message: str
) -> None:
    """Unit-wide refusals of socket_verify name the unit file."""
    path = unit(tmp_path, f"[Socket]\nListenStream=/run/app.sock\n{lines}\n")
    with pytest.raises(UnitFileError, match=re.escape(message)) as caught:
        load(path)
    assert caught.value.path == str(path)


def test_a_legacy_var_run_path_moves_to_run_with_a_warning(tmp_path: Path) -> None:
    """patch_var_run: /var/run/x is /run/x, and systemd says so naming the line."""
    path = unit(tmp_path, "[Socket]\nListenStream=/var/run/app/x.sock\nListenFIFO=/var/run/f\n")
    warnings: list[str] = []
    assert specs(load(path, on_warning=warnings.append)) == [("/run/app/x.sock", "app.socket")]
    assert warnings[0] == (
        f"{path}:2: ListenStream=: ListenStream= references a path below legacy directory "
        "/var/run/, updating /var/run/app/x.sock → /run/app/x.sock; please update the unit "
        "file accordingly."
    )
    assert warnings[1].startswith(f"{path}:3: ListenFIFO=: ListenFIFO= references")
    assert read_socket_unit(path, environ=ENV).ports[1] == ("ListenFIFO", "/run/f")


def test_a_bare_template_is_an_error_asking_for_an_instance(tmp_path: Path) -> None:
    """systemd never runs foo@.socket itself; %i would silently expand to nothing."""
    path = unit(tmp_path, "[Socket]\nListenStream=/run/j.%i/stdout\n", "journal@.socket")
    with pytest.raises(UnitFileError, match=r"journal@\.socket is a template.*--instance"):
        load(path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("a-b@x\\x2dy-z.socket", "/run/x\\x2dy-z|x-y/z|b|b", id="escaped"),
        pytest.param("web@1.socket", "/run/1|1|web|web", id="plain"),
        pytest.param("a-b-c@.x.socket", "/run/.x|.x|c|c", id="dot-instance"),
    ],
)
def test_an_instance_expands_the_instance_specifiers_as_systemd(
    tmp_path: Path, name: str, expected: str
) -> None:
    """%i the instance, %I unescaped, %j the last '-' part of the prefix, %J unescaped (R86)."""
    prefix = name.partition("@")[0]
    path = unit(tmp_path, "[Socket]\nListenStream=/run/%i|%I|%j|%J\n", f"{prefix}@.socket")
    result = read_socket_unit(path, name=name, environ=ENV)
    assert [str(s["address"]) for s in result.listen] == [expected]


# -- Listen lines -----------------------------------------------------------------------------


def test_listen_lines_of_mixed_types_keep_their_order(tmp_path: Path) -> None:
    """One spec per Listen*= line in line order, types mixed (R70)."""
    path = unit(
        tmp_path,
        "[Socket]\nListenDatagram=127.0.0.1:8443\nListenStream=8080\n"
        "ListenSequentialPacket=@seq\nListenStream=[::1]:80\nListenStream=/run/a.sock\n",
    )
    assert [a for a, _ in specs(load(path))] == [
        "datagram:127.0.0.1:8443",
        "8080",
        "seqpacket:@seq",
        "[::1]:80",
        "/run/a.sock",
    ]


def test_an_empty_listen_assignment_resets_every_address_before_it(tmp_path: Path) -> None:
    """ListenDatagram= (empty) drops all earlier Listen*= addresses of any type (R69)."""
    path = unit(
        tmp_path,
        "[Socket]\nListenStream=1\nListenNetlink=audit 1\nListenDatagram=\nListenStream=2\n",
    )
    result = read_socket_unit(path, environ=ENV)
    assert [str(s["address"]) for s in result.listen] == ["2"]
    assert result.unsupported == []


def test_a_drop_in_can_reset_and_replace_the_addresses(tmp_path: Path) -> None:
    """A drop-in's empty ListenStream= clears the unit's list; its own lines follow."""
    path = unit(tmp_path, "[Socket]\nListenStream=1\nFileDescriptorName=a\n")
    unit(tmp_path, "[Socket]\nListenStream=\nListenStream=2\n", "app.socket.d/override.conf")
    assert specs(load(path)) == [("2", "a")]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0", id="port-zero"),
        pytest.param("[::1]:0", id="ipv6-port-zero"),
        pytest.param("127.0.0.1", id="bare-ipv4"),
        pytest.param("::1", id="bare-ipv6"),
        pytest.param("relative/path", id="relative-path"),
        pytest.param("65536", id="port-too-large"),
        pytest.param("localhost:80", id="host-name"),
        pytest.param('"/run/quoted"', id="quotes-are-not-removed"),
        pytest.param("datagram:127.0.0.1:80", id="our-prefix-is-not-systemd-syntax"),
    ],
)
def test_listen_values_systemd_ignores_are_warnings_or_strict_errors(
    tmp_path: Path, value: str
) -> None:
    """R65: systemd ignores these with a warning; so do we, and strict=True raises."""
    path = unit(tmp_path, f"[Socket]\nListenStream=8080\nListenStream={value}\n")
    warnings: list[str] = []
    assert specs(load(path, on_warning=warnings.append)) == [("8080", "app.socket")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}:3: ListenStream=: ")
    with pytest.raises(UnitFileError) as caught:
        load(path, strict=True)
    assert (caught.value.line, caught.value.key) == (3, "ListenStream")


def test_seqpacket_on_an_ip_address_is_ignored_like_systemd(tmp_path: Path) -> None:
    """ListenSequentialPacket= is AF_UNIX only (R68)."""
    path = unit(tmp_path, "[Socket]\nListenSequentialPacket=127.0.0.1:80\nListenStream=1\n")
    assert specs(load(path)) == [("1", "app.socket")]


@pytest.mark.parametrize(
    "line",
    [
        "ListenFIFO=/run/fifo",
        "ListenSpecial=/dev/rfkill",
        "ListenNetlink=audit 1",
        "ListenMessageQueue=/mq",
        "ListenUSBFunction=/dev/ffs",
    ],
)
def test_unsupported_listen_types_are_named_by_line(tmp_path: Path, line: str) -> None:
    """FIFO/special/netlink/mqueue/USB: a note naming the line; strict: an error."""
    key = line.partition("=")[0]
    path = unit(tmp_path, f"[Socket]\nListenStream=80\n{line}\n")
    warnings: list[str] = []
    load(path, on_warning=warnings.append)
    assert warnings == [
        f"{path}:3: {key}=: not supported by socket-activation; under systemd the process "
        "also gets this fd, so fd numbers and order differ"
    ]
    assert read_socket_unit(path, environ=ENV).unsupported == [f"{path}:3"]
    with pytest.raises(UnitFileError, match=f"{re.escape(str(path))}:3: {key}=: not supported"):
        load(path, strict=True)


def test_unknown_keys_warn_and_loading_goes_on(tmp_path: Path) -> None:
    """An unknown key is a warning naming file:line (R84), not an error."""
    path = unit(tmp_path, "[Socket]\nListenStream=80\nListenStraem=81\n")
    warnings: list[str] = []
    assert specs(load(path, on_warning=warnings.append)) == [("80", "app.socket")]
    assert warnings == [f"{path}:3: unknown key 'ListenStraem' in section [Socket], ignoring"]


def test_accept_with_a_datagram_socket_is_refused_like_systemd(tmp_path: Path) -> None:
    """Accept=yes with a datagram socket: systemd refuses the unit (R72), so do we."""
    path = unit(tmp_path, "[Socket]\nListenStream=80\nListenDatagram=81\nAccept=yes\n")
    with pytest.raises(UnitFileError, match="non-accepting") as caught:
        load(path)
    assert caught.value.line == 3


def test_several_units_concatenate_their_sockets_in_the_order_given(tmp_path: Path) -> None:
    """A service with two socket units: their sockets in the order the paths were given."""
    web = unit(tmp_path, "[Socket]\nListenStream=127.0.0.1:80\nListenStream=[::1]:80\n", "w.socket")
    quic = unit(tmp_path, "[Socket]\nListenDatagram=127.0.0.1:443\n", "q.socket")
    assert specs(load([quic, web])) == [
        ("datagram:127.0.0.1:443", "q.socket"),
        ("127.0.0.1:80", "w.socket"),
        ("[::1]:80", "w.socket"),
    ]


def test_a_unit_without_any_socket_is_an_error(tmp_path: Path) -> None:
    """Binding the library's default address instead of the unit's would be wrong."""
    path = unit(tmp_path, "[Socket]\nBacklog=5\n")
    with pytest.raises(UnitFileError, match="no Listen setting"):
        load(path)


@pytest.mark.parametrize(
    "line",
    ["ListenFIFO=/run/initctl", "ListenNetlink=kobject-uevent 1", "ListenSpecial=/dev/rfkill"],
)
def test_a_unit_of_only_unsupported_ports_loads_but_gives_nothing_to_bind(
    tmp_path: Path, line: str
) -> None:
    """It loads (every unit shipped with systemd does), each port a note; as a config to bind
    it is an error naming the lines, not a silent fall-back to the default address."""
    path = unit(tmp_path, f"[Socket]\n{line}\nSocketMode=0600\n")
    result = read_socket_unit(path, environ=ENV)
    assert result.listen == []
    assert result.ports == [(line.partition("=")[0], line.partition("=")[2])]
    assert [n.split(": ")[0] for n in result.notes] == [f"{path}:2"]
    with pytest.raises(
        UnitFileError, match=re.escape(f"not supported by socket-activation ({path}:2)")
    ):
        load(path)


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        pytest.param("systemd/user", "/run/user/1000/app.sock", id="user-manager"),
        pytest.param("systemd/system", "/run/app.sock", id="system-manager"),
    ],
)
def test_percent_t_depends_on_the_manager_of_the_unit_directory(
    tmp_path: Path, directory: str, expected: str
) -> None:
    """%t is $XDG_RUNTIME_DIR for a unit in .../systemd/user/, /run otherwise (R86)."""
    path = unit(tmp_path / directory, "[Socket]\nListenStream=%t/app.sock\n")
    assert specs(load(path)) == [(expected, "app.socket")]


def test_an_instance_expands_i_and_reads_the_template_drop_ins(tmp_path: Path) -> None:
    """foo@bar.socket loaded from foo@.socket: %i is bar, foo@.socket.d applies."""
    path = unit(tmp_path, "[Socket]\nListenStream=/run/%i.sock\n", "foo@.socket")
    unit(tmp_path, "[Socket]\nBacklog=7\n", "foo@.socket.d/b.conf")
    result = read_socket_unit(path, name="foo@bar.socket", environ=ENV)
    assert [(str(s["address"]), s["name"], s["backlog"]) for s in result.listen] == [
        ("/run/bar.sock", "foo@bar.socket", 7)
    ]


# -- systemd itself as the oracle -------------------------------------------------------------

DIFFERENTIAL_UNITS = {
    "all-good": "[Socket]\nListenStream=127.0.0.1:8080\nBacklog=10\n",
    "unknown-key": "[Socket]\nListenStream=8080\nListenStraem=1\n",
    "unknown-section": "[Sockett]\nListenStream=1\n[Socket]\nListenStream=8080\n",
    "ignored-listen": "[Socket]\nListenStream=8080\nListenStream=0\nListenStream=127.0.0.1\n",
    "relative-path": "[Socket]\nListenStream=8080\nListenStream=rel/path\n",
    "missing-equals": "[Socket]\nListenStream=8080\nBacklog\n",
    "x-keys": "[Socket]\nListenStream=8080\nX-Ours=1\n[X-Vendor]\nA=b\n",
    "continuation": "[Socket]\nListenStream=8080\nFileDescriptorName=a\\\n# c\nb\nFoo=1\n",
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIAL_UNITS))
def test_warned_lines_match_systemd_analyze_verify(tmp_path: Path, name: str) -> None:
    """For each unit, the lines we warn about are the lines systemd-analyze verify warns about."""
    tool = require_tool("systemd-analyze")
    path = unit(tmp_path, DIFFERENTIAL_UNITS[name], f"t-{name}.socket")
    unit(tmp_path, "[Service]\nExecStart=/bin/true\n", f"t-{name}.service")
    verify = subprocess.run(
        [tool, "verify", "--man=no", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    theirs = sorted({int(m) for m in re.findall(re.escape(str(path)) + r":(\d+):", verify.stderr)})
    result = read_socket_unit(path, environ=ENV)
    ours = sorted({int(w.split(":")[1]) for w in result.warnings})
    assert ours == theirs, verify.stderr


def test_warnings_go_to_the_config_logger_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without on_warning, a unit's warnings are logged to socket_activation.config."""
    path = unit(tmp_path, "[Socket]\nListenStream=80\nListenStraem=81\n")
    with caplog.at_level("WARNING", logger="socket_activation.config"):
        load_config(unit=path, env_prefix=None, environ=ENV)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:3: unknown key 'ListenStraem' in section [Socket], ignoring"
    ]
