"""ServerConfig: defaults, validation that names the field and value, derived listen specs."""

from __future__ import annotations

import pydantic
import pytest

from socket_activation import ListenAddress, ListenSpec, ServerConfig, Transport


def test_defaults_match_the_original_design() -> None:
    """127.0.0.1:8000, backlog 2048, mode 0660, one worker, no HTTP/3."""
    config = ServerConfig()
    assert (config.host, config.port, config.uds, config.backlog) == ("127.0.0.1", 8000, None, 2048)
    assert config.socket_mode == 0o660
    assert config.workers == 1
    assert config.http3 is False
    assert [str(s.address) for s in config.listen_specs()] == ["127.0.0.1:8000"]
    assert not config.names_addresses


def test_config_is_frozen() -> None:
    """A config cannot be changed after validation."""
    with pytest.raises(pydantic.ValidationError):
        ServerConfig().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        pytest.param("port", 70000, "less than or equal to 65535", id="port-high"),
        pytest.param("port", -1, "greater than or equal to 0", id="port-negative"),
        pytest.param("backlog", 0, "greater than or equal to 1", id="backlog"),
        pytest.param("workers", 0, "greater than or equal to 1", id="workers"),
        pytest.param("uds", "relative.sock", "invalid listen address", id="uds-relative"),
        pytest.param("uds", "127.0.0.1:80", "uds must be a /path or @abstract", id="uds-inet"),
        pytest.param("socket_mode", "0999", "octal file mode", id="mode"),
        pytest.param("host", "a b", "invalid host", id="host"),
        pytest.param("listen", ["nope"], "invalid listen address 'nope'", id="listen"),
        pytest.param("colour", "blue", "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_validation_errors_name_the_field_and_the_value(
    field: str, value: object, fragment: str
) -> None:
    """Each bad value is reported with its field name and the input."""
    with pytest.raises(pydantic.ValidationError) as info:
        ServerConfig(**{field: value})
    text = str(info.value)
    assert field in text
    assert fragment in text
    assert repr(value)[:20].strip("[]") in text


def test_mode_accepts_octal_strings() -> None:
    """'0600', '600' and '0o600' are the same mode; it serialises back as '0600'."""
    for text in ("0600", "600", "0o600"):
        assert ServerConfig(socket_mode=text).socket_mode == 0o600
    assert ServerConfig(socket_mode=0o600).model_dump()["socket_mode"] == "0600"


def test_http3_adds_a_datagram_twin_on_the_same_address() -> None:
    """http3=True: the listen specs are the TCP address and its UDP twin."""
    specs = ServerConfig(host="::1", port=8443, http3=True).listen_specs()
    assert [str(s.address) for s in specs] == ["[::1]:8443", "datagram:[::1]:8443"]


def test_listen_list_is_the_whole_configuration_in_order() -> None:
    """listen entries keep their order, names and options; simple fields are ignored."""
    config = ServerConfig(
        port=1,
        listen=[
            "127.0.0.1:8080",
            {"address": "datagram:127.0.0.1:8080", "name": "quic"},
            ListenSpec(address=ListenAddress.parse("/run/app.sock"), socket_mode=0o600),
        ],
    )
    specs = config.listen_specs()
    assert [str(s.address) for s in specs] == [
        "127.0.0.1:8080",
        "datagram:127.0.0.1:8080",
        "/run/app.sock",
    ]
    assert specs[1].name == "quic"
    assert specs[1].address.transport is Transport.DATAGRAM
    assert specs[2].bind_options(config).socket_mode == 0o600
    assert config.names_addresses


@pytest.mark.parametrize("name", ["a:b", "tab\there", "é", "x" * 256])
def test_invalid_fd_names_are_refused(name: str) -> None:
    """Names must be what systemd accepts in FileDescriptorName= (R19)."""
    with pytest.raises(pydantic.ValidationError, match="invalid fd name"):
        ListenSpec(address=ListenAddress.parse("80"), name=name)


def test_config_round_trips_through_json() -> None:
    """model_dump_json and model_validate_json give the same config back."""
    config = ServerConfig(listen=["127.0.0.1:1", {"address": "@x", "name": "n"}], http3=True)
    assert ServerConfig.model_validate_json(config.model_dump_json()) == config
