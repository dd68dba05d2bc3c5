"""Placeholders in a command's arguments: every form, every error, as a table."""

from __future__ import annotations

import pytest

from socket_activation._errors import ConfigError
from socket_activation.restart.argv import Slot, expand, slots

WEB = Slot("web", 3, "127.0.0.1:8080")
API = Slot("api", 4, "/run/api.sock")
TWO = (WEB, API)


def test_slots_number_the_sockets_from_fd_3_in_order() -> None:
    assert slots(["web", "api"], ["127.0.0.1:8080", "/run/api.sock"]) == TWO


@pytest.mark.parametrize(
    ("argv", "sockets", "expected"),
    [
        pytest.param(["x", "--fd", "{fd:web}"], TWO, ["x", "--fd", "3"], id="fd-by-name"),
        pytest.param(["--fd={fd:api}"], TWO, ["--fd=4"], id="fd-inside-an-argument"),
        pytest.param(["fd://{fd:web}"], TWO, ["fd://3"], id="hypercorn-fd-url"),
        pytest.param(["{fd}"], (WEB,), ["3"], id="fd-of-the-only-socket"),
        pytest.param(["--uds", "{address:api}"], TWO, ["--uds", "/run/api.sock"], id="address"),
        pytest.param(["{address}"], (WEB,), ["127.0.0.1:8080"], id="address-of-the-only"),
        pytest.param(["{fd:web},{fd:api}"], TWO, ["3,4"], id="two-in-one-argument"),
        pytest.param(["{{fd:web}}"], TWO, ["{fd:web}"], id="escaped-placeholder-is-literal"),
        pytest.param(["{{fd}}={fd}"], (WEB,), ["{fd}=3"], id="escaped-next-to-a-placeholder"),
        pytest.param(['{"a": 1}'], (), ['{"a": 1}'], id="json-unchanged"),
        pytest.param(["${HOME}", "${fd}x"], (WEB,), ["${HOME}", "$3x"], id="shell-braces"),
        pytest.param(["print({'a': 1})"], (), ["print({'a': 1})"], id="python-unchanged"),
        pytest.param(
            ["{{.Name}}", "{}", "a}b", "{port}"],
            (),
            ["{{.Name}}", "{}", "a}b", "{port}"],
            id="other-braces-unchanged",
        ),
        pytest.param(["{fdd:web}", "{fd :web}"], TWO, ["{fdd:web}", "{fd :web}"], id="not-a-form"),
        pytest.param(["plain", "--x=1", ""], (), ["plain", "--x=1", ""], id="no-braces"),
        pytest.param(["{fd:web}"], (Slot("web", 5, "@a"),), ["5"], id="fd-from-the-slot"),
    ],
)
def test_placeholders_expand_to_what_was_resolved(
    argv: list[str], sockets: tuple[Slot, ...], expected: list[str]
) -> None:
    assert expand(argv, sockets) == expected


@pytest.mark.parametrize(
    ("argv", "sockets", "message"),
    [
        pytest.param(
            ["x", "{fd:nope}"],
            TWO,
            r"'\{fd:nope\}' \(word 2 after '--'\): no socket named 'nope' for \{fd:nope\} "
            r"\(have: 'web' \(fd 3\), 'api' \(fd 4\)\)",
            id="unknown-name",
        ),
        pytest.param(
            ["{address:db}"], TWO, r"no socket named 'db' for \{address:db\}", id="unknown-address"
        ),
        pytest.param(
            ["{fd}"], TWO, r"\{fd\} needs exactly one socket, have 'web' .*\{fd:NAME\}", id="fd-2"
        ),
        pytest.param(["{fd}"], (), r"\{fd\} needs exactly one socket, have no sockets", id="fd-0"),
        pytest.param(["{fd:}"], TWO, r"\{fd:\} names no socket \(have: 'web'", id="empty-name"),
        pytest.param(["{address:}"], TWO, r"\{address:\} names no socket", id="empty-address"),
        pytest.param(["x", "y{fd:nope}z"], TWO, r"'y\{fd:nope\}z' \(word 2", id="inside-a-word"),
        pytest.param(
            ["{fd:web}"],
            (WEB, Slot("web", 4, "127.0.0.1:8081")),
            r"2 sockets are named 'web' \(fds 3, 4\)",
            id="ambiguous-name",
        ),
    ],
)
def test_a_placeholder_that_cannot_be_expanded_is_an_error_naming_it(
    argv: list[str], sockets: tuple[Slot, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        expand(argv, sockets)
