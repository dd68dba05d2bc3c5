"""The unit-file parser: every syntax rule of SPEC.md L (R79-R86), drop-ins, and a fuzz test."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyfakefs.fake_filesystem import FakeFilesystem

from socket_activation._errors import UnitFileError
from socket_activation.unitfile.keys import KNOWN_KEYS
from socket_activation.unitfile.parser import dropin_paths, parse_unit_text, read_unit
from socket_activation.unitfile.specifiers import (
    SpecifierContext,
    manager_for_path,
    split_unit_name,
)
from socket_activation.unitfile.values import (
    parse_boolean,
    parse_mode,
    parse_size,
    parse_timespan,
    split_words,
    unescape,
)


def pairs(text: str) -> list[tuple[str, str, str, int]]:
    assignments, _ = parse_unit_text(text, "u.socket", known=KNOWN_KEYS)
    return [(a.section, a.key, a.value, a.line) for a in assignments]


def warned_lines(text: str) -> list[int]:
    _, warnings = parse_unit_text(text, "u.socket", known=KNOWN_KEYS)
    return [int(w.split(":")[1]) for w in warnings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "[Socket]\nListenStream=80\n", [("Socket", "ListenStream", "80", 2)], id="plain"
        ),
        pytest.param(
            "[Socket]\n  ListenStream  =   80  \n",
            [("Socket", "ListenStream", "80", 2)],
            id="whitespace-around-equals-and-ends-ignored-R79",
        ),
        pytest.param(
            "[Socket]\n# ListenStream=1\n; ListenStream=2\n   # ListenStream=3\nListenStream=4\n",
            [("Socket", "ListenStream", "4", 5)],
            id="hash-and-semicolon-comment-lines-R79",
        ),
        pytest.param(
            "[Socket]\nFileDescriptorName=a#b;c\n",
            [("Socket", "FileDescriptorName", "a#b;c", 2)],
            id="comment-characters-inside-a-value-are-text",
        ),
        pytest.param(
            "[Socket]\nFileDescriptorName=web\\\nname\n",
            [("Socket", "FileDescriptorName", "web name", 2)],
            id="continuation-backslash-becomes-one-space-R80",
        ),
        pytest.param(
            "[Socket]\nFileDescriptorName=a\\\n# skipped\n; skipped\nb\n",
            [("Socket", "FileDescriptorName", "a b", 2)],
            id="comment-lines-inside-a-continuation-are-skipped-R80",
        ),
        pytest.param(
            "[Socket]\nFileDescriptorName=a\\\\\nListenStream=80\n",
            [("Socket", "FileDescriptorName", "a\\\\", 2), ("Socket", "ListenStream", "80", 3)],
            id="escaped-backslash-at-the-end-is-no-continuation",
        ),
        pytest.param(
            "[Socket]\nFileDescriptorName=a\\",
            [("Socket", "FileDescriptorName", "a", 2)],
            id="continuation-at-end-of-file-still-applies",
        ),
        pytest.param(
            "[Socket]\r\nListenStream=80\r\n",
            [("Socket", "ListenStream", "80", 2)],
            id="crlf-line-ends",
        ),
        pytest.param(
            "\ufeff[Socket]\nListenStream=80\n",
            [("Socket", "ListenStream", "80", 2)],
            id="utf8-byte-order-mark-skipped",
        ),
        pytest.param(
            "[Socket]\nListenStream=\n",
            [("Socket", "ListenStream", "", 2)],
            id="empty-assignment-kept-for-the-reset-R83",
        ),
        pytest.param(
            "[Socket]\nX-Mine=1\nListenStream=80\n[X-Vendor]\nAnything=1\n",
            [("Socket", "ListenStream", "80", 3)],
            id="x-keys-and-x-sections-ignored-silently-R84",
        ),
        pytest.param(
            "[Socket]\nListenStream=a=b\n",
            [("Socket", "ListenStream", "a=b", 2)],
            id="value-may-contain-equals",
        ),
        pytest.param(
            "[Unit]\nDescription=d\n[Socket]\nListenStream=1\n[Install]\nWantedBy=x\n",
            [
                ("Unit", "Description", "d", 2),
                ("Socket", "ListenStream", "1", 4),
                ("Install", "WantedBy", "x", 6),
            ],
            id="sections-R79",
        ),
    ],
)
def test_unit_syntax_gives_the_assignments_systemd_reads(
    text: str, expected: list[tuple[str, str, str, int]]
) -> None:
    """Each syntax rule of systemd.syntax(7) yields the assignments systemd would apply."""
    assert pairs(text) == expected


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param("[Socket]\nListenStrem=80\n", [2], id="unknown-key-R84"),
        pytest.param("[Sockets]\nListenStream=80\n", [1], id="unknown-section-R84"),
        pytest.param("ListenStream=80\n[Socket]\n", [1], id="assignment-outside-section"),
        pytest.param("[Socket]\nListenStream 80\n", [2], id="missing-equals"),
        pytest.param("[Socket]\n=80\n", [2], id="missing-key"),
        pytest.param("[Socket]\nlistenstream=80\n", [2], id="keys-are-case-sensitive"),
        pytest.param("[Socket]\nX-Foo=1\n[X-Bar]\nY=1\n", [], id="x-prefixed-never-warns"),
    ],
)
def test_questionable_lines_are_warnings_naming_the_line(text: str, lines: list[int]) -> None:
    """Unknown keys/sections and malformed lines warn with file:line and loading goes on."""
    assert warned_lines(text) == lines


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[Socket\nListenStream=80\n", id="unclosed-section"),
        pytest.param("[]\n", id="empty-section-name"),
        pytest.param("[So]cket]\n", id="bracket-inside-section"),
        pytest.param("[Socket]\nFileDescriptorName=" + "a" * (1024 * 1024) + "\n", id="line>1MiB"),
    ],
)
def test_what_fails_a_systemd_load_raises_unit_file_error_with_the_line(text: str) -> None:
    """A broken section header or an over-long line is an error naming file and line."""
    with pytest.raises(UnitFileError) as caught:
        parse_unit_text(text, "bad.socket", known=KNOWN_KEYS)
    assert caught.value.path == "bad.socket"
    assert caught.value.line is not None
    assert str(caught.value).startswith(f"bad.socket:{caught.value.line}")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *(pytest.param(t, True, id=f"true-{t}") for t in ("1", "yes", "y", "TRUE", "t", "On")),
        *(pytest.param(t, False, id=f"false-{t}") for t in ("0", "no", "N", "false", "f", "OFF")),
    ],
)
def test_booleans_parse_like_parse_boolean(text: str, value: bool) -> None:
    """parse_boolean accepts 1/yes/y/true/t/on and their negatives, any case (R81)."""
    assert parse_boolean(text) is value


@pytest.mark.parametrize("text", ["", "2", "yess", "enable"])
def test_other_boolean_words_are_errors_quoting_them(text: str) -> None:
    """Anything else is not a boolean; the message quotes the input."""
    with pytest.raises(ValueError, match=repr(text)):
        parse_boolean(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("4096", 4096, id="bytes"),
        pytest.param("256K", 262144, id="K-is-1024-R77"),
        pytest.param("1M", 1048576, id="M"),
        pytest.param("2G", 2 * 1024**3, id="G"),
        pytest.param("1.5K", 1536, id="fraction"),
        pytest.param("1G 512M", 1024**3 + 512 * 1024**2, id="parts-summed"),
        pytest.param("100B", 100, id="B-suffix"),
    ],
)
def test_sizes_are_base_1024(text: str, value: int) -> None:
    """ReceiveBuffer=/SendBuffer= sizes take K/M/G as powers of 1024 (R77)."""
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1X", "K", "1 2"])
def test_bad_sizes_are_errors(text: str) -> None:
    """Negative, empty or unknown-suffix sizes are refused."""
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("5", 5.0, id="bare-number-is-seconds-R81"),
        pytest.param("2min 200ms", 120.2, id="parts-summed-R81"),
        pytest.param("2min200ms", 120.2, id="parts-without-space"),
        pytest.param("1.5h", 5400.0, id="fraction-hours"),
        pytest.param("1 d", 86400.0, id="space-before-unit"),
        pytest.param("500us", 0.0005, id="microseconds"),
        pytest.param("3 minutes 1s", 181.0, id="long-unit-names"),
        pytest.param("infinity", math.inf, id="infinity"),
    ],
)
def test_time_spans_sum_their_parts(text: str, seconds: float) -> None:
    """Time spans: bare number = seconds; us ms s min h d w ... summed (R81)."""
    assert parse_timespan(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "-5", "min", "5 mins"])
def test_bad_time_spans_are_errors(text: str) -> None:
    """Unknown units, negatives and empty spans are refused."""
    with pytest.raises(ValueError, match="time span"):
        parse_timespan(text)


@pytest.mark.parametrize(
    ("text", "mode"),
    [("0666", 0o666), ("600", 0o600), ("07777", 0o7777)],
)
def test_modes_are_octal(text: str, mode: int) -> None:
    """SocketMode=/DirectoryMode= are octal (R76)."""
    assert parse_mode(text) == mode


@pytest.mark.parametrize("text", ["", "0999", "10000", "rw"])
def test_bad_modes_are_errors(text: str) -> None:
    """Non-octal or too large modes are refused."""
    with pytest.raises(ValueError, match="mode"):
        parse_mode(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param('"A=a b" X=1', ["A=a b", "X=1"], id="double-quotes-R82"),
        pytest.param("'a b'  c", ["a b", "c"], id="single-quotes"),
        pytest.param('a"b c"d', ["ab cd"], id="quotes-inside-a-word"),
        pytest.param(r"a\sb \x41 \101 \u00e9", ["a b", "A", "A", "\u00e9"], id="escapes"),
        pytest.param(r'"a\"b"', ['a"b'], id="escaped-quote-inside-quotes"),
        pytest.param(r"\t\n\\", ["\t\n\\"], id="c-escapes"),
        pytest.param("   ", [], id="only-spaces"),
    ],
)
def test_quoted_words_split_like_extract_first_word(text: str, words: list[str]) -> None:
    """Quoting removes the quotes and keeps spaces; escapes decode (R82)."""
    assert split_words(text) == words


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('"open', id="unclosed-quote"),
        pytest.param("a\\", id="trailing-backslash"),
        pytest.param(r"\q", id="unknown-escape"),
        pytest.param(r"\x4", id="short-hex"),
        pytest.param(r"\x00", id="nul"),
    ],
)
def test_bad_quoting_is_an_error(text: str) -> None:
    """Unclosed quotes, unknown escapes and NUL characters are refused."""
    with pytest.raises(ValueError, match=r"quote|escape|character"):
        split_words(text)


def test_unescape_decodes_c_escapes() -> None:
    """cunescape decodes \\n, \\xHH and octal escapes."""
    assert unescape(r"a\nb\x41\102") == "a\nbAB"


CTX = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u"}


@pytest.mark.parametrize(
    ("unit", "manager", "text", "expanded"),
    [
        pytest.param(
            "demo.service",
            "user",
            "%n|%N|%p|%i|%t|%h|%%",
            "demo.service|demo|demo||/run/user/1000|/home/u|%",
            id="measured-user-manager-R86",
        ),
        pytest.param(
            "web@a-b.socket",
            "system",
            "%n %N %p %i %I %j %t",
            "web@a-b.socket web@a-b web a-b a/b web /run",
            id="instance-system-manager",
        ),
        pytest.param("my-app.socket", "system", "%j %J", "app app", id="last-dash-component"),
        pytest.param(
            "x.socket", "system", "%h %u %U %g %G", "/root root 0 root 0", id="system-user"
        ),
        pytest.param("x.socket", "system", "%T %V", "/tmp /var/tmp", id="tmp-dirs"),
        pytest.param("x.socket", "system", "%H|%l", "box.example.org|box", id="hostnames"),
        pytest.param("x.socket", "system", "[::1]:80%%lo", "[::1]:80%lo", id="percent-escaped-R67"),
    ],
)
def test_specifiers_expand_for_the_manager_that_loads_the_unit(
    unit: str, manager: str, text: str, expanded: str
) -> None:
    """%n %N %p %i %t %h ... expand as systemd does for that manager (R86)."""
    ctx = SpecifierContext(unit, manager, environ=CTX, hostname="box.example.org")
    assert ctx.expand(text) == expanded


@pytest.mark.parametrize("text", ["%z", "%", "100%"])
def test_unknown_specifiers_are_errors_naming_them(text: str) -> None:
    """An unknown specifier or a lone '%' is an error naming it."""
    with pytest.raises(ValueError, match="%"):
        SpecifierContext("x.socket", "system", environ={}).expand(text)


@pytest.mark.parametrize(
    ("path", "manager"),
    [
        pytest.param("/usr/lib/systemd/user/a.socket", "user", id="vendor-user"),
        pytest.param("/home/u/.config/systemd/user/a.socket", "user", id="xdg-config-user"),
        pytest.param("/etc/systemd/user/a.socket", "user", id="etc-user"),
        pytest.param("/etc/systemd/system/a.socket", "system", id="etc-system"),
        pytest.param("/srv/app/a.socket", "system", id="anywhere-else"),
        pytest.param("/srv/user/systemd/a.socket", "system", id="user-before-systemd"),
    ],
)
def test_the_manager_is_chosen_from_the_unit_directory(path: str, manager: str) -> None:
    """A unit under .../systemd/user/ is the user manager's; any other the system's."""
    assert manager_for_path(path) == manager


def test_split_unit_name_separates_prefix_instance_and_suffix() -> None:
    """foo@bar.socket has prefix foo, instance bar; foo.socket has no instance (R85)."""
    assert split_unit_name("foo@bar.socket") == ("foo", "bar", ".socket")
    assert split_unit_name("foo@.socket") == ("foo", "", ".socket")
    assert split_unit_name("foo.socket") == ("foo", None, ".socket")


def test_drop_ins_apply_in_lexical_order_after_the_unit(fs: FakeFilesystem) -> None:
    """NAME.socket.d/*.conf apply after the unit, sorted by file name; other files are not read."""
    fs.create_file("/u/app.socket", contents="[Socket]\nListenStream=1\n")
    fs.create_file("/u/app.socket.d/20-b.conf", contents="[Socket]\nListenStream=3\n")
    fs.create_file("/u/app.socket.d/10-a.conf", contents="[Socket]\nListenStream=2\n")
    fs.create_file("/u/app.socket.d/30-c.txt", contents="[Socket]\nListenStream=9\n")
    unit = read_unit("/u/app.socket")
    assert [a.value for a in unit.section("Socket")] == ["1", "2", "3"]
    assert unit.dropins == ["/u/app.socket.d/10-a.conf", "/u/app.socket.d/20-b.conf"]
    assert unit.section("Socket")[1].where == "/u/app.socket.d/10-a.conf:2"


def test_instance_drop_ins_merge_with_the_template_drop_ins(fs: FakeFilesystem) -> None:
    """foo@bar.socket reads foo@.socket.d too; the instance's file wins a same-name tie."""
    fs.create_file("/u/foo@.socket", contents="[Socket]\nListenStream=1\n")
    fs.create_file("/u/foo@.socket.d/10.conf", contents="[Socket]\nListenStream=template\n")
    fs.create_file("/u/foo@.socket.d/30.conf", contents="[Socket]\nListenStream=3\n")
    fs.create_file("/u/foo@bar.socket.d/10.conf", contents="[Socket]\nListenStream=instance\n")
    fs.create_file("/u/foo@bar.socket.d/20.conf", contents="[Socket]\nListenStream=2\n")
    unit = read_unit("/u/foo@.socket", name="foo@bar.socket")
    assert [a.value for a in unit.section("Socket")] == ["1", "instance", "2", "3"]


def test_a_drop_in_linked_to_dev_null_masks_it(fs: FakeFilesystem) -> None:
    """A drop-in that is a symlink to /dev/null is skipped (masked)."""
    fs.create_file("/u/app.socket", contents="[Socket]\nListenStream=1\n")
    fs.create_file("/u/app.socket.d/10.conf", contents="[Socket]\nListenStream=2\n")
    fs.create_symlink("/u/app.socket.d/20.conf", os.devnull)
    assert [p.name for p in dropin_paths("/u/app.socket")] == ["10.conf"]


def test_no_drop_in_directory_means_no_drop_ins(fs: FakeFilesystem) -> None:
    """A unit without a .d directory has no drop-ins."""
    fs.create_file("/u/app.socket", contents="[Socket]\nListenStream=1\n")
    assert dropin_paths("/u/app.socket") == []


@pytest.mark.parametrize(
    ("contents", "line"),
    [
        pytest.param(b"[Socket]\nListenStream=\xff\n", 2, id="invalid-utf8"),
    ],
)
def test_unreadable_unit_files_name_file_and_line(
    tmp_path: Path, contents: bytes, line: int
) -> None:
    """Invalid UTF-8 is a UnitFileError naming the file and the line."""
    path = tmp_path / "bad.socket"
    path.write_bytes(contents)
    with pytest.raises(UnitFileError) as caught:
        read_unit(path)
    assert (caught.value.path, caught.value.line) == (str(path), line)


def test_a_missing_unit_file_is_a_unit_file_error(tmp_path: Path) -> None:
    """A path that does not exist is a UnitFileError naming it, not an OSError."""
    with pytest.raises(UnitFileError, match="cannot read"):
        read_unit(tmp_path / "missing.socket")


_UNIT_ALPHABET = st.sampled_from(
    [
        "[Socket]",
        "[Unit]",
        "[X-A]",
        "[",
        "]",
        "\n",
        "\r",
        "\\",
        "=",
        "#",
        ";",
        " ",
        "\t",
        '"',
        "'",
        "%",
        "%n",
        "%i",
        "%z",
        "ListenStream",
        "ListenDatagram",
        "ListenNetlink",
        "FileDescriptorName",
        "Backlog",
        "SocketMode",
        "ReceiveBuffer",
        "DeferAcceptSec",
        "Accept",
        "BindIPv6Only",
        "80",
        "127.0.0.1:0",
        "[::1]:8080",
        "/run/x",
        "@abs",
        "yes",
        "2min",
        "256K",
        "0666",
        "\x00",
        "\ufeff",
        "é",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_UNIT_ALPHABET, max_size=60).map("".join))
def test_fuzzed_unit_text_raises_nothing_but_unit_file_error(text: str) -> None:
    """Whatever the text, the parser and the .socket interpretation raise only UnitFileError."""
    from socket_activation.sources.unit import socket_unit
    from socket_activation.unitfile.parser import UnitFile

    try:
        assignments, warnings = parse_unit_text(text, "fuzz.socket", known=KNOWN_KEYS)
        unit = UnitFile("fuzz.socket", "fuzz.socket", "system", assignments, warnings)
        socket_unit(unit, environ={"XDG_RUNTIME_DIR": "/run/user/0"})
        socket_unit(unit, strict=True, environ={})
    except UnitFileError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_arbitrary_text_raises_nothing_but_unit_file_error(text: str) -> None:
    """Arbitrary Unicode text: only UnitFileError escapes the parser."""
    with contextlib.suppress(UnitFileError):
        parse_unit_text(text, "fuzz.socket", known=KNOWN_KEYS)
