"""Generated units and plists: loading them back gives the same config; systemd accepts them."""

from __future__ import annotations

import argparse
import plistlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socket_activation._errors import ConfigError
from socket_activation.cli import units as units_cli
from socket_activation.config import ListenSpec, ServerConfig
from socket_activation.sources import load_config
from socket_activation.unitfile.render import render_plist, render_units
from tests.conftest import require_tool

ENV = {"XDG_RUNTIME_DIR": "/run/user/1000"}


def effective(config: ServerConfig) -> list[tuple[str, str | None, Any, bool]]:
    """What binding the config means: address, name, bind options, Accept, in order."""
    return [
        (str(s.address), s.name, s.bind_options(config), s.accept) for s in config.listen_specs()
    ]


def write_units(tmp_path: Path, config: ServerConfig, name: str = "app") -> list[Path]:
    files = render_units(config, name, "/bin/true")
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text)
    return [tmp_path / f for f in files if f.endswith(".socket")]


def reload_units(tmp_path: Path, config: ServerConfig) -> ServerConfig:
    return load_config(unit=write_units(tmp_path, config), env_prefix=None, environ=ENV)


CONFIGS = {
    "one-tcp": ServerConfig(listen=(ListenSpec(address="127.0.0.1:8000", name="web"),)),
    "tcp-udp-unix-named": ServerConfig(
        listen=(
            ListenSpec(address="127.0.0.1:8000", name="web"),
            ListenSpec(address="datagram:127.0.0.1:8443", name="quic"),
            ListenSpec(address="/run/app.sock", name="unix", socket_mode=0o600),
        )
    ),
    "same-name-shares-a-unit": ServerConfig(
        listen=(
            ListenSpec(address="127.0.0.1:80", name="web"),
            ListenSpec(address="[::1]:80", name="web"),
        )
    ),
    "every-option": ServerConfig(
        listen=(
            ListenSpec(
                address="[::]:8080",
                name="all",
                backlog=17,
                socket_mode=0o640,
                directory_mode=0o700,
                bind_ipv6_only="ipv6-only",
                reuse_port=True,
                free_bind=True,
                transparent=True,
                bind_to_device="lo",
                keep_alive=True,
                no_delay=False,
                receive_buffer=262144,
                send_buffer=1048576,
                defer_accept_sec=5,
                pass_credentials=True,
                socket_user="daemon",
                socket_group="daemon",
            ),
        )
    ),
    "scope-percent-escaped": ServerConfig(
        listen=(ListenSpec(address="[fe80::1]:80%lo", name="ll"),)
    ),
    "accept-yes": ServerConfig(
        listen=(ListenSpec(address="127.0.0.1:2222", name="ssh", accept=True),)
    ),
    "seqpacket-and-abstract": ServerConfig(
        listen=(
            ListenSpec(address="seqpacket:/run/s.sock", name="s"),
            ListenSpec(address="@abstract-name", name="a"),
        )
    ),
    "simple-fields-http3": ServerConfig(host="127.0.0.1", port=9000, http3=True),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_to_units_to_config_binds_the_same_sockets(tmp_path: Path, name: str) -> None:
    """Rendering to .socket units and loading them back gives the same sockets, names, options."""
    config = CONFIGS[name]
    back = reload_units(tmp_path, config)
    want = effective(config)
    got = effective(back)
    # systemd has no "do not create the directory": an unset DirectoryMode reads back as 0755
    got = [
        (a, n, o.__class__(**{**_fields(o), "directory_mode": w[2].directory_mode}), acc)
        for (a, n, o, acc), w in zip(got, want, strict=True)
    ]
    # a socket without a name gets the unit's name from systemd (R78)
    want = [(a, n or "app.socket", o, acc) for a, n, o, acc in want]
    assert got == want


def _fields(options: Any) -> dict[str, Any]:
    return {name: getattr(options, name) for name in options.__match_args__}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_unit_derived_configs_round_trip_exactly(tmp_path: Path, name: str) -> None:
    """A config loaded from units renders to units that load back to an equal config."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = reload_units(tmp_path / "a", CONFIGS[name])
    second = reload_units(tmp_path / "b", first)
    assert second == first


def test_sockets_of_different_names_go_in_separate_units_with_service(tmp_path: Path) -> None:
    """systemd names every socket of a unit alike: one unit per name, Service= pointing back."""
    files = render_units(CONFIGS["tcp-udp-unix-named"], "app", "/bin/true")
    assert list(files) == ["app.socket", "app-2.socket", "app-3.socket", "app.service"]
    assert "Service=app.service" in files["app-2.socket"]
    assert "Service=" not in files["app.socket"]
    assert "Requires=app.socket app-2.socket app-3.socket" in files["app.service"]


def test_accept_yes_renders_a_template_service() -> None:
    """Accept=yes needs NAME@.service and no Service= line (R71, R72)."""
    files = render_units(CONFIGS["accept-yes"], "app", "/bin/true")
    assert list(files) == ["app.socket", "app@.service"]
    assert "Accept=yes" in files["app.socket"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            ServerConfig(listen=(ListenSpec(address="localhost:80"),)),
            "literal IP address",
            id="host-name",
        ),
        pytest.param(
            ServerConfig(listen=(ListenSpec(address="127.0.0.1:0"),)), "port 0", id="port-zero"
        ),
        pytest.param(
            ServerConfig(
                listen=(
                    ListenSpec(address="127.0.0.1:1", name="a", accept=True),
                    ListenSpec(address="127.0.0.1:2", name="b", accept=True),
                )
            ),
            "Accept=yes",
            id="accept-in-two-units",
        ),
    ],
)
def test_configs_systemd_cannot_express_are_config_errors(
    config: ServerConfig, message: str
) -> None:
    """What a unit cannot say is refused with the reason, not silently changed."""
    with pytest.raises(ConfigError, match=message):
        render_units(config, "app", "/bin/true")


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x" * 300])
def test_invalid_unit_names_are_refused(name: str) -> None:
    """The unit name must be a valid systemd unit name prefix (R85)."""
    with pytest.raises(ConfigError, match="invalid unit name"):
        render_units(CONFIGS["one-tcp"], name, "/bin/true")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_systemd_analyze_verify_accepts_the_generated_units(tmp_path: Path, name: str) -> None:
    """systemd-analyze verify reports nothing about the units we generate."""
    tool = require_tool("systemd-analyze")
    config = CONFIGS[name]
    files = render_units(config, "app", "/bin/true")
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text)
    paths = [str(tmp_path / f) for f in files if not f.endswith("@.service")]
    verify = subprocess.run(
        [tool, "verify", "--man=no", *paths],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stderr
    assert str(tmp_path) not in verify.stderr, verify.stderr


# -- plist ------------------------------------------------------------------------------------

PLIST_CONFIGS = {
    "named-tcp-udp": ServerConfig(
        listen=(
            ListenSpec(address="127.0.0.1:8000", name="web"),
            ListenSpec(address="datagram:[::1]:8443", name="quic"),
        )
    ),
    "unix-mode-owner": ServerConfig(
        listen=(ListenSpec(address="/tmp/a.sock", name="u", socket_mode=0o600, socket_user="501"),)
    ),
    "any-address-and-array": ServerConfig(
        listen=(ListenSpec(address="8000", name="w"), ListenSpec(address="8001", name="w"))
    ),
    "ipv6-only-any": ServerConfig(
        listen=(ListenSpec(address="[::]:80", name="v6", bind_ipv6_only="ipv6-only"),)
    ),
}


def plist_view(config: ServerConfig) -> list[tuple[str, str | None, int | None, str | None]]:
    out = []
    for spec in config.listen_specs():
        options = spec.bind_options(config)
        unix = spec.address.is_unix
        out.append(
            (
                str(spec.address),
                spec.name,
                options.socket_mode if unix else None,
                options.socket_user if unix else None,
            )
        )
    return out


@pytest.mark.parametrize("name", sorted(PLIST_CONFIGS))
def test_config_to_plist_to_config_gives_the_same_sockets(tmp_path: Path, name: str) -> None:
    """A rendered plist loads back to the same addresses, names, modes and owners."""
    config = PLIST_CONFIGS[name]
    path = tmp_path / "app.plist"
    path.write_bytes(render_plist(config, "app"))
    back = load_config(plist=path, env_prefix=None)
    assert plist_view(back) == plist_view(config)
    assert back.launchd_names == tuple(dict.fromkeys(s.name for s in config.listen_specs()))


def test_the_plist_names_the_sockets_for_the_app() -> None:
    """The plist sets SOCKET_ACTIVATION_LAUNCHD_NAMES to its socket keys, in order."""
    document = plistlib.loads(render_plist(PLIST_CONFIGS["named-tcp-udp"], "app"))
    assert document["EnvironmentVariables"]["SOCKET_ACTIVATION_LAUNCHD_NAMES"] == "web quic"
    assert document["Label"] == "app"


@pytest.mark.parametrize("address", ["@abstract", "vsock:2:80"])
def test_sockets_launchd_lacks_are_refused_in_a_plist(address: str) -> None:
    """launchd has no abstract or vsock sockets."""
    with pytest.raises(ConfigError, match="launchd has no"):
        render_plist(ServerConfig(listen=(ListenSpec(address=address),)), "app")


# -- property ---------------------------------------------------------------------------------

_ADDRESSES = st.sampled_from(
    [
        "127.0.0.1:8000",
        "[::1]:8001",
        "8002",
        "datagram:127.0.0.1:8443",
        "/run/app.sock",
        "seqpacket:/run/s.sock",
        "@abs",
        "datagram:@dg",
    ]
)
_SPECS = st.builds(
    ListenSpec,
    address=_ADDRESSES,
    name=st.sampled_from(["web", "api", "x y"]),
    backlog=st.none() | st.integers(1, 65535),
    socket_mode=st.none() | st.integers(0, 0o777),
    bind_ipv6_only=st.none() | st.sampled_from(["default", "both", "ipv6-only"]),
    reuse_port=st.booleans(),
    keep_alive=st.none() | st.booleans(),
    receive_buffer=st.none() | st.integers(0, 2**20),
    defer_accept_sec=st.none() | st.integers(1, 600).map(float),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_SPECS, min_size=1, max_size=5))
def test_any_named_config_survives_the_unit_round_trip(
    tmp_path_factory: pytest.TempPathFactory, specs: list[ListenSpec]
) -> None:
    """Property: for configs of named sockets, units -> config binds the same sockets."""
    tmp = tmp_path_factory.mktemp("rt")
    config = ServerConfig(listen=tuple(specs))
    back = reload_units(tmp, config)
    assert _without_directory_mode(back) == _without_directory_mode(config)


def _without_directory_mode(config: ServerConfig) -> list[tuple[str, str | None, Any, bool]]:
    return [
        (a, n, o.__class__(**{**_fields(o), "directory_mode": None}), acc)
        for a, n, o, acc in effective(config)
    ]


# -- command ----------------------------------------------------------------------------------


def run_units(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser()
    units_cli.register(parser.add_subparsers())
    args = parser.parse_args(["units", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_the_units_command_prints_listen_lines_in_command_line_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--listen and --listen-datagram keep their interleaved order, --fdname names them."""
    monkeypatch.delenv("SOCKET_ACTIVATION_LISTEN", raising=False)
    out = run_units(
        ["-l", "127.0.0.1:1", "-d", "127.0.0.1:2", "-l", "/run/x.sock", "--fdname", "a:b:c"],
        capsys,
    )
    listens = [line for line in out.splitlines() if line.startswith("Listen")]
    assert listens == [
        "ListenStream=127.0.0.1:1",
        "ListenDatagram=127.0.0.1:2",
        "ListenStream=/run/x.sock",
    ]
    assert "# ---- app.service" in out


def test_the_units_command_writes_files_that_load_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output-dir writes the units; --unit on them gives the same sockets."""
    run_units(
        ["-l", "127.0.0.1:1", "-d", "127.0.0.1:2", "--fdname", "web", "-o", str(tmp_path)],
        capsys,
    )
    config = load_config(unit=tmp_path / "app.socket", env_prefix=None)
    assert [(str(s.address), s.name) for s in config.listen_specs()] == [
        ("127.0.0.1:1", "web"),
        ("datagram:127.0.0.1:2", "web"),
    ]


def test_the_units_command_prints_a_plist_that_loads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--plist-out prints a plist; --plist reads it back."""
    out = run_units(["-l", "127.0.0.1:1", "--fdname", "web", "--plist-out"], capsys)
    path = tmp_path / "app.plist"
    path.write_text(out)
    config = load_config(plist=path, env_prefix=None)
    assert [(str(s.address), s.name) for s in config.listen_specs()] == [("127.0.0.1:1", "web")]
