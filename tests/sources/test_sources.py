"""Configuration sources: environment, TOML, plist, and the precedence explicit > env > file."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socket_activation._errors import ConfigError, UnitFileError
from socket_activation.config import ServerConfig
from socket_activation.sources import load_config
from socket_activation.sources.env import split_list
from tests.conftest import require
from tests.support.paths import ROOT

P = "SOCKET_ACTIVATION_"


def addresses(config: ServerConfig) -> list[str]:
    return [str(spec.address) for spec in config.listen_specs()]


# -- environment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "field", "value"),
    [
        pytest.param({f"{P}HOST": "0.0.0.0"}, "host", "0.0.0.0", id="host"),
        pytest.param({f"{P}PORT": "9000"}, "port", 9000, id="port"),
        pytest.param({f"{P}UDS": "/run/app.sock"}, "uds", "/run/app.sock", id="uds"),
        pytest.param({f"{P}BACKLOG": "128"}, "backlog", 128, id="backlog"),
        pytest.param({f"{P}SOCKET_MODE": "0600"}, "socket_mode", 0o600, id="socket-mode-octal"),
        pytest.param({f"{P}WORKERS": "4"}, "workers", 4, id="workers"),
        pytest.param({f"{P}HTTP3": "yes"}, "http3", True, id="http3-yes"),
        pytest.param({f"{P}HTTP3": "0"}, "http3", False, id="http3-0"),
        pytest.param(
            {f"{P}LAUNCHD_NAMES": "web, unix"}, "launchd_names", ("web", "unix"), id="names"
        ),
        pytest.param({f"{P}PORT": ""}, "port", 8000, id="empty-variable-is-unset"),
        pytest.param({"OTHER_PORT": "1"}, "port", 8000, id="other-prefix-ignored"),
    ],
)
def test_each_field_reads_from_its_prefixed_variable(
    environ: dict[str, str], field: str, value: object
) -> None:
    """<PREFIX><FIELD> sets that field; empty or foreign variables leave the default."""
    assert getattr(load_config(environ=environ), field) == value


def test_the_listen_variable_holds_several_addresses_in_order() -> None:
    """SOCKET_ACTIVATION_LISTEN: whitespace- or comma-separated addresses, with types."""
    config = load_config(
        environ={f"{P}LISTEN": "127.0.0.1:8000, datagram:127.0.0.1:8443\n /run/app.sock"}
    )
    assert addresses(config) == ["127.0.0.1:8000", "datagram:127.0.0.1:8443", "/run/app.sock"]


def test_an_app_chooses_its_own_prefix() -> None:
    """The prefix is the app's: MYAPP_PORT is read when the prefix is MYAPP_."""
    environ = {"MYAPP_PORT": "7000", f"{P}PORT": "1"}
    assert load_config(env_prefix="MYAPP_", environ=environ).port == 7000


def test_no_prefix_ignores_the_environment() -> None:
    """env_prefix=None reads no variable."""
    assert load_config(env_prefix=None, environ={f"{P}PORT": "1"}).port == 8000


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        pytest.param("PORT", "3a", "'3a'", id="port-not-a-number"),
        pytest.param("PORT", "70000", "65535", id="port-out-of-range"),
        pytest.param("BACKLOG", "0", "greater than or equal to 1", id="backlog-zero"),
        pytest.param("SOCKET_MODE", "999", "'999'", id="mode-not-octal"),
        pytest.param("HTTP3", "maybe", "'maybe'", id="http3-not-boolean"),
        pytest.param("UDS", "relative.sock", "relative.sock", id="uds-relative"),
        pytest.param("LISTEN", "127.0.0.1:80 nonsense", "'nonsense'", id="listen-bad-item"),
        pytest.param("HOST", "a b", "'a b'", id="host-with-space"),
    ],
)
def test_bad_environment_values_are_config_errors_naming_the_variable(
    variable: str, value: str, expected: str
) -> None:
    """A bad value raises ConfigError whose source and message name the variable and value."""
    with pytest.raises(ConfigError) as caught:
        load_config(environ={f"{P}{variable}": value})
    assert caught.value.source == f"{P}{variable}"
    assert str(caught.value).startswith(f"{P}{variable}: ")
    assert expected in str(caught.value)


def test_list_items_split_on_any_run_of_spaces_and_commas() -> None:
    """split_list ignores empty items between separators."""
    assert split_list(" a,,b \t c ,") == ["a", "b", "c"]


# -- TOML -------------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_standalone_toml_file_sets_fields_and_listen_tables(tmp_path: Path) -> None:
    """Top-level keys are fields; listen items are strings or tables; '-' equals '_'."""
    path = write(
        tmp_path,
        "server.toml",
        'backlog = 64\nsocket-mode = "0640"\nlisten = ["127.0.0.1:8080",\n'
        '  { address = "/run/a.sock", name = "api", socket-mode = "0600", reuse-port = true }]\n',
    )
    config = load_config(toml=path, environ={})
    assert (config.backlog, config.socket_mode) == (64, 0o640)
    first, second = config.listen_specs()
    assert str(first.address) == "127.0.0.1:8080"
    assert (second.name, second.socket_mode, second.reuse_port) == ("api", 0o600, True)


def test_pyproject_is_read_for_its_tool_table_only(tmp_path: Path) -> None:
    """In pyproject.toml only [tool.socket-activation] counts."""
    path = write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "x"\n[tool.socket-activation]\nport = 8081\n',
    )
    assert load_config(toml=path, environ={}).port == 8081


def test_a_pyproject_without_the_table_configures_nothing(tmp_path: Path) -> None:
    """No [tool.socket-activation] table: the defaults."""
    path = write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config(toml=path, environ={}) == ServerConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("listen = [\n", "invalid TOML", id="syntax"),
        pytest.param("prot = 1\n", "key 'prot': prot: unknown setting", id="unknown-key"),
        pytest.param('port = "x"\n', "key 'port': port:", id="wrong-type"),
        pytest.param('listen = ["bad"]\n', "listen.0.address: invalid listen address", id="addr"),
        pytest.param(
            'listen = [{address = "80", colour = "red"}]\n',
            "listen.0.colour: unknown setting",
            id="unknown-listen-key",
        ),
    ],
)
def test_toml_errors_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    """Syntax errors name the file; invalid values also name the key."""
    path = write(tmp_path, "server.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(toml=path, environ={})
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_missing_toml_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that does not exist names itself."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(toml=tmp_path / "none.toml", environ={})


# -- precedence -------------------------------------------------------------------------------

FILE = 'port = 1000\nhost = "127.0.0.2"\nbacklog = 10\n'


@pytest.mark.parametrize(
    ("file", "environ", "overrides", "expected"),
    [
        pytest.param(FILE, {}, {}, {"port": 1000, "host": "127.0.0.2"}, id="file-alone"),
        pytest.param(
            FILE, {f"{P}PORT": "2000"}, {}, {"port": 2000, "backlog": 10}, id="env-over-file"
        ),
        pytest.param(
            FILE,
            {f"{P}PORT": "2000"},
            {"port": 3000},
            {"port": 3000, "host": "127.0.0.2"},
            id="explicit-over-env",
        ),
        pytest.param(None, {f"{P}PORT": "2000"}, {"port": 3000}, {"port": 3000}, id="no-file"),
        pytest.param(
            'listen = ["127.0.0.1:1"]\n',
            {f"{P}PORT": "2000"},
            {},
            {"port": 2000, "listen": ()},
            id="env-address-replaces-file-listen",
        ),
        pytest.param(
            'listen = ["127.0.0.1:1"]\n',
            {f"{P}BACKLOG": "5"},
            {},
            {"backlog": 5, "listen_count": 1},
            id="env-option-keeps-file-listen",
        ),
        pytest.param(
            FILE,
            {f"{P}LISTEN": "127.0.0.1:5"},
            {"listen": ["127.0.0.1:6"]},
            {"addresses": ["127.0.0.1:6"]},
            id="explicit-listen-over-env-listen",
        ),
    ],
)
def test_explicit_values_beat_the_environment_which_beats_the_file(
    tmp_path: Path,
    file: str | None,
    environ: dict[str, str],
    overrides: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    """Precedence is explicit > environment > file, field by field; addresses as one decision."""
    toml = write(tmp_path, "s.toml", file) if file is not None else None
    config = load_config(toml=toml, environ=environ, overrides=overrides)
    for key, value in expected.items():
        if key == "listen_count":
            assert len(config.listen) == value
        elif key == "addresses":
            assert addresses(config) == value
        else:
            assert getattr(config, key) == value


def test_a_bad_explicit_value_names_itself() -> None:
    """An invalid override is reported as the explicit value, not as the environment."""
    with pytest.raises(ConfigError, match="explicit value 'port'"):
        load_config(environ={f"{P}PORT": "1"}, overrides={"port": -1})


# -- launchd plist ----------------------------------------------------------------------------


def plist(tmp_path: Path, sockets: Any) -> Path:
    path = tmp_path / "app.plist"
    path.write_bytes(plistlib.dumps({"Label": "app", "Sockets": sockets}))
    return path


@pytest.mark.parametrize(
    ("sockets", "expected"),
    [
        pytest.param(
            {"web": {"SockNodeName": "127.0.0.1", "SockServiceName": "8000"}},
            [("127.0.0.1:8000", "web")],
            id="inet-node-and-port",
        ),
        pytest.param(
            {"web": {"SockServiceName": 8000}}, [("8000", "web")], id="integer-port-any-address"
        ),
        pytest.param(
            {"web": {"SockServiceName": "8000", "SockFamily": "IPv4"}},
            [("0.0.0.0:8000", "web")],
            id="family-ipv4-any",
        ),
        pytest.param(
            {"web": {"SockServiceName": "8000", "SockFamily": "ipv6"}},
            [("[::]:8000", "web")],
            id="family-ipv6-any-case-insensitive",
        ),
        pytest.param(
            {"web": {"SockServiceName": "8000", "SockFamily": "IPv4v6"}},
            [("8000", "web")],
            id="other-family-means-both",
        ),
        pytest.param(
            {"q": {"SockType": "dgram", "SockNodeName": "::1", "SockServiceName": "8443"}},
            [("datagram:[::1]:8443", "q")],
            id="dgram-ipv6",
        ),
        pytest.param(
            {"u": {"SockPathName": "/tmp/a.sock", "SockType": "seqpacket"}},
            [("seqpacket:/tmp/a.sock", "u")],
            id="unix-seqpacket",
        ),
        pytest.param(
            {"web": [{"SockServiceName": "80"}, {"SockServiceName": "81"}]},
            [("80", "web"), ("81", "web")],
            id="array-of-sockets-under-one-name",
        ),
    ],
)
def test_plist_sockets_become_named_listen_specs(
    tmp_path: Path, sockets: Any, expected: list[tuple[str, str]]
) -> None:
    """Each Sockets entry is a ListenSpec named by its key (R102)."""
    config = load_config(plist=plist(tmp_path, sockets), environ={})
    assert [(str(s.address), s.name) for s in config.listen_specs()] == expected
    assert config.launchd_names == tuple(sockets)


def test_a_plist_service_name_is_looked_up_in_etc_services(tmp_path: Path) -> None:
    """SockServiceName "http" means the port /etc/services gives it (80)."""
    require(Path("/etc/services").exists(), "no /etc/services (package netbase)")
    config = load_config(plist=plist(tmp_path, {"web": {"SockServiceName": "http"}}), environ={})
    assert str(config.listen_specs()[0].address) == "80"


def test_plist_path_mode_is_decimal_and_owner_is_kept(tmp_path: Path) -> None:
    """SockPathMode 438 is 0666; SockPathOwner/Group become socket_user/group."""
    path = plist(
        tmp_path,
        {"u": {"SockPathName": "/tmp/a.sock", "SockPathMode": 438, "SockPathOwner": 501}},
    )
    (spec,) = load_config(plist=path, environ={}).listen_specs()
    assert (spec.socket_mode, spec.socket_user) == (0o666, "501")


@pytest.mark.parametrize(
    ("sockets", "key"),
    [
        pytest.param({"w": {"SockServiceName": "80", "SockPassive": False}}, "SockPassive", id="p"),
        pytest.param({"w": {"SockServiceName": "80", "SockType": "raw"}}, "SockType", id="type"),
        pytest.param({"w": {"SockNodeName": "127.0.0.1"}}, "SockServiceName", id="no-port"),
        pytest.param({"w": {"SockPathName": "rel.sock"}}, "SockPathName", id="relative-path"),
        pytest.param(
            {"w": {"SockPathName": "/a", "SockPathMode": "0666"}}, "SockPathMode", id="mode-str"
        ),
        pytest.param({"w": {"SockServiceName": "no-such-svc"}}, "SockServiceName", id="service"),
        pytest.param({"w": "80"}, "Sockets.w", id="not-a-dict"),
        pytest.param({}, "Sockets", id="empty-sockets"),
    ],
)
def test_plist_errors_name_the_file_and_key(tmp_path: Path, sockets: Any, key: str) -> None:
    """A bad socket entry is a UnitFileError naming the file and Sockets.<name>.<key>."""
    path = plist(tmp_path, sockets)
    with pytest.raises(UnitFileError) as caught:
        load_config(plist=path, environ={})
    assert caught.value.path == str(path)
    assert key in (caught.value.key or "")


def test_a_corrupt_plist_is_a_unit_file_error(tmp_path: Path) -> None:
    """Bytes that are no plist give UnitFileError, not plistlib's own exceptions."""
    path = tmp_path / "bad.plist"
    path.write_bytes(b"<plist><dict><key>Sockets</key>")
    with pytest.raises(UnitFileError, match="invalid plist"):
        load_config(plist=path, environ={})


def test_plist_extras_are_warnings_not_errors(tmp_path: Path) -> None:
    """Bonjour and unknown keys are reported to on_warning and loading goes on."""
    path = plist(tmp_path, {"w": {"SockServiceName": "80", "Bonjour": True, "Colour": 1}})
    seen: list[str] = []
    load_config(plist=path, environ={}, on_warning=seen.append)
    assert [w.split(": ")[1] for w in seen] == ["Sockets.w.Bonjour", "Sockets.w.Colour"]


def test_the_demo_plist_loads_with_its_two_sockets() -> None:
    """units/io.github.socket-activation.demo.plist gives web and unix, in that order."""
    path = ROOT / "units" / "io.github.socket-activation.demo.plist"
    config = load_config(plist=path, environ={})
    assert [(str(s.address), s.name) for s in config.listen_specs()] == [
        ("127.0.0.1:8000", "web"),
        ("/tmp/socket-activation-demo.sock", "unix"),
    ]
    assert config.listen_specs()[1].socket_mode == 0o660


# -- import cost ------------------------------------------------------------------------------


def test_importing_the_sources_does_not_import_tomllib_or_plistlib() -> None:
    """tomllib and plistlib load only when a TOML file or plist is read."""
    code = (
        "import sys; from socket_activation.sources import load_config; "
        "load_config(environ={'SOCKET_ACTIVATION_PORT': '1'}); "
        "print(sorted(m for m in ('tomllib', 'plistlib', 'pydantic_settings') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
