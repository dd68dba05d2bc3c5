"""systemd's value grammars for unit files: booleans, sizes, time spans, modes, quoted words.

Pure functions, each the Python twin of a libsystemd parser (SPEC.md R81, R82; parse-util.c,
time-util.c, extract-word.c, escape.c). Each returns the value or raises :class:`ValueError`
with a message quoting the input; the unit parser turns that into a ``UnitFileError`` naming
file, line and key.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "parse_boolean",
    "parse_mode",
    "parse_size",
    "parse_timespan",
    "split_words",
    "unescape",
]

_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})


def parse_boolean(text: str) -> bool:
    """``parse_boolean``: 1/yes/y/true/t/on and 0/no/n/false/f/off, any case (R81)."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected a boolean (yes/no, true/false, on/off, 1/0), got {text!r}")


# parse_size(base 1024): an optional fraction, then one of these factors (B = 1)
_SIZE_FACTORS = {
    "E": 1024**6,
    "P": 1024**5,
    "T": 1024**4,
    "G": 1024**3,
    "M": 1024**2,
    "K": 1024,
    "B": 1,
    "": 1,
}
_SIZE_PART = re.compile(r"\s*([0-9]+)(?:\.([0-9]+))?\s*([EPTGMKB]?)")


def parse_size(text: str) -> int:
    """``parse_size(…, 1024)``: "256K" -> 262144; parts may be summed ("1G 512M")."""
    if not text.strip() or text.strip().startswith("-"):
        raise ValueError(f"expected a size like 256K, 1M, 2G, got {text!r}")
    total = 0
    pos = 0
    while pos < len(text.rstrip()):
        m = _SIZE_PART.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"expected a size like 256K, 1M, 2G, got {text!r}")
        factor = _SIZE_FACTORS[m[3]]
        whole = int(m[1]) * factor
        fraction = int(m[2]) * factor // 10 ** len(m[2]) if m[2] else 0
        total += whole + fraction
        pos = m.end()
        if not m[3] and pos < len(text.rstrip()):  # only the last part may lack a unit
            raise ValueError(f"expected a size like 256K, 1M, 2G, got {text!r}")
    if total >= 2**64:
        raise ValueError(f"size out of range: {text!r}")
    return total


# time-util.c unit table, in seconds; longest names first so "min" is not read as "m" + "in"
_TIME_UNITS: dict[str, float] = {
    "seconds": 1,
    "second": 1,
    "sec": 1,
    "s": 1,
    "minutes": 60,
    "minute": 60,
    "min": 60,
    "months": 2629800,
    "month": 2629800,
    "M": 2629800,
    "msec": 1e-3,
    "ms": 1e-3,
    "m": 60,
    "hours": 3600,
    "hour": 3600,
    "hr": 3600,
    "h": 3600,
    "days": 86400,
    "day": 86400,
    "d": 86400,
    "weeks": 604800,
    "week": 604800,
    "w": 604800,
    "years": 31557600,
    "year": 31557600,
    "y": 31557600,
    "usec": 1e-6,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "nsec": 1e-9,
    "ns": 1e-9,
}
_TIME_PART = re.compile(
    r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*("
    + "|".join(sorted(map(re.escape, _TIME_UNITS), key=len, reverse=True))
    + r")?(?![A-Za-z\u00b5])"
)


def parse_timespan(text: str) -> float:
    """``parse_sec``: seconds from "2min 200ms", "5", "1.5h"; bare numbers are seconds (R81).

    ``infinity`` is ``math.inf``. Parts are summed; a negative or empty span is refused.
    """
    stripped = text.strip()
    if stripped == "infinity":
        return math.inf
    if not stripped:
        raise ValueError(f"expected a time span like 5s, 2min 200ms, got {text!r}")
    total = 0.0
    pos = 0
    while pos < len(stripped):
        m = _TIME_PART.match(stripped, pos)
        if not m or m.end() == pos:
            raise ValueError(f"expected a time span like 5s, 2min 200ms, got {text!r}")
        total += float(m[1]) * _TIME_UNITS[m[2] or "s"]
        pos = m.end()
        while pos < len(stripped) and stripped[pos].isspace():
            pos += 1
    return total


def parse_mode(text: str) -> int:
    """``parse_mode``: an octal file mode up to 07777 ("0666", "600")."""
    word = text.strip()
    if not word or any(c not in "01234567" for c in word) or int(word, 8) > 0o7777:
        raise ValueError(f"expected an octal file mode like 0666, got {text!r}")
    return int(word, 8)


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "s": " ",
}
_HEX = "0123456789abcdefABCDEF"


def _escape_at(text: str, i: int) -> tuple[str, int]:
    """Decode the escape starting after the backslash at ``text[i]``; (character, next index)."""
    c = text[i] if i < len(text) else ""
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 1
    width = {"x": 2, "u": 4, "U": 8}.get(c)
    if width is not None:
        digits = text[i + 1 : i + 1 + width]
        if len(digits) != width or any(d not in _HEX for d in digits):
            raise ValueError(f"invalid \\{c} escape in {text!r}")
        code = int(digits, 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"\\{c}{digits} is not a valid character in {text!r}")
        return chr(code), i + 1 + width
    if c and c in "01234567":
        digits = text[i : i + 3]
        if len(digits) != 3 or any(d not in "01234567" for d in digits):
            raise ValueError(f"invalid octal escape in {text!r}")
        code = int(digits, 8)
        if code == 0 or code > 0xFF:
            raise ValueError(f"\\{digits} is not a valid character in {text!r}")
        return chr(code), i + 3
    raise ValueError(f"unknown escape \\{c} in {text!r}")


def unescape(text: str) -> str:
    """``cunescape``: C-style escapes (R82) decoded; an unknown escape is an error."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            char, i = _escape_at(text, i + 1)
            out.append(char)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_words(text: str) -> list[str]:
    """``extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)`` repeated: the words of *text*.

    Words are separated by whitespace; a word may be quoted whole or in parts with ``"…"`` or
    ``'…'`` (quotes removed, spaces kept); escapes are decoded inside and outside quotes
    (``\\s`` is a space). ``'A=a b' X=1`` -> ``["A=a b", "X=1"]``. An unclosed quote or a
    trailing lone backslash is an error.
    """
    words: list[str] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in " \t\n\r":
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if c == "\\":  # escapes work alike inside and outside quotes
                if i + 1 >= n:
                    raise ValueError(f"unfinished escape at the end of {text!r}")
                char, i = _escape_at(text, i + 1)
                word.append(char)
            elif quote:
                if c != quote:
                    word.append(c)
                else:
                    quote = ""
                i += 1
            elif c in " \t\n\r":
                break
            elif c in "\"'":
                quote = c
                i += 1
            else:
                word.append(c)
                i += 1
        if quote:
            raise ValueError(f"unclosed {quote} quote in {text!r}")
        words.append("".join(word))
