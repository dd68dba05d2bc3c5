"""libsystemd's number parsing, exactly: ``safe_atoi``, ``safe_atou(64)``, ``parse_pid``.

systemd parses ``LISTEN_FDS``, ``LISTEN_PID``, ``WATCHDOG_USEC``, ``WATCHDOG_PID`` and vsock
ports with glibc ``strtol``/``strtoul`` (base 0) after its own ``mangle_base`` (Python-style
``0b``/``0o`` prefixes). So ``" 100"``, ``"+0x10"`` and ``"010"`` (octal 8) are accepted while
``"1 "`` is not; Python's ``int()`` differs on every one of those, so the C rules are spelled out
here (SPEC.md R3, R7, R48, R49; source: parse-util.c), checked against libsystemd 252 itself by
the differential tests. Pure functions: each returns the value or raises
:class:`ParseIntError` carrying the errno libsystemd returns.
"""

from __future__ import annotations

import errno

__all__ = ["ParseIntError", "parse_pid", "safe_atoi", "safe_atou", "safe_atou64"]

_INT_MAX = 2**31 - 1  # also the largest pid_t
_UINT_MAX = 2**32 - 1
_LONG_MAX = 2**63 - 1
_ULONG_MAX = 2**64 - 1
# isspace() in the C locale: what strtol()/strtoul() skip before the number.
_C_SPACE = " \t\n\v\f\r"
# systemd's WHITESPACE: what safe_ato*() skip themselves before looking for a 0b/0o prefix.
_SD_WHITESPACE = " \t\n\r"
_HEX = "0123456789abcdefABCDEF"


class ParseIntError(ValueError):
    """The text does not parse; ``errno`` is what libsystemd returns (EINVAL or ERANGE)."""

    def __init__(self, err: int, text: str) -> None:
        self.errno = err
        self.text = text
        super().__init__(f"{text!r}: {errno.errorcode[err]}")


def _digit(char: str) -> int:
    """The value of an ASCII digit or letter as strtol sees it; 99 for anything else."""
    if not char.isascii():  # "İ".lower() is two characters; C sees bytes >= 0x80: no digit
        return 99
    if "0" <= char <= "9":
        return ord(char) - ord("0")
    if "a" <= char.lower() <= "z":
        return ord(char.lower()) - ord("a") + 10
    return 99


def _strto(text: str, base: int, *, unsigned: bool) -> tuple[int, bool, int]:
    """glibc ``strtol``/``strtoul`` on 64-bit: ``(value, overflowed, end)``.

    ``end`` is the index after the last digit, or 0 when no digits were found (C's
    ``endptr == nptr``). Unsigned parsing negates modulo 2**64, as C does.
    """
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    negative = False
    if i < len(text) and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    has_hex_prefix = text[i : i + 2] in ("0x", "0X") and text[i + 2 : i + 3] in tuple(_HEX)
    if base in (0, 16) and has_hex_prefix:
        base = 16
        i += 2
    elif base == 0:
        base = 8 if text[i : i + 1] == "0" else 10
    start = i
    while i < len(text) and _digit(text[i]) < base:
        i += 1
    if i == start:
        return 0, False, 0
    magnitude = int(text[start:i], base)
    if unsigned:
        if magnitude > _ULONG_MAX:
            return _ULONG_MAX, True, i
        return (-magnitude) % 2**64 if negative else magnitude, False, i
    if negative:
        if magnitude > _LONG_MAX + 1:
            return -_LONG_MAX - 1, True, i
        return -magnitude, False, i
    if magnitude > _LONG_MAX:
        return _LONG_MAX, True, i
    return magnitude, False, i


def _mangle_base(text: str) -> tuple[str, int]:
    """systemd's mangle_base() after its own whitespace skip: ``0b``/``0o`` select base 2/8."""
    rest = text.lstrip(_SD_WHITESPACE)
    if rest[:2] in ("0b", "0B"):
        return rest[2:], 2
    if rest[:2] in ("0o", "0O"):
        return rest[2:], 8
    return rest, 0


def safe_atou64(text: str) -> int:
    """``safe_atou64``/``safe_atollu``: an unsigned 64-bit integer."""
    rest, base = _mangle_base(text)
    value, overflowed, end = _strto(rest, base, unsigned=True)
    if overflowed:
        raise ParseIntError(errno.ERANGE, text)
    if end == 0 or end != len(rest):
        raise ParseIntError(errno.EINVAL, text)
    if value != 0 and rest[:1] == "-":
        raise ParseIntError(errno.ERANGE, text)
    return value


def safe_atou(text: str) -> int:
    """``safe_atou``: like :func:`safe_atou64`, limited to an unsigned 32-bit integer."""
    value = safe_atou64(text)
    if value > _UINT_MAX:
        raise ParseIntError(errno.ERANGE, text)
    return value


def safe_atoi(text: str) -> int:
    """``safe_atoi``: a signed C ``int``.

    Measured against libsystemd 252: like safe_atolu() it skips systemd's whitespace
    (`` \\t\\n\\r``, not ``\\v``) before looking for ``0b``/``0o``, so ``" 0b10"`` is 2.
    """
    rest, base = _mangle_base(text)
    value, overflowed, end = _strto(rest, base, unsigned=False)
    if overflowed:
        raise ParseIntError(errno.ERANGE, text)
    if end == 0 or end != len(rest):
        raise ParseIntError(errno.EINVAL, text)
    if not -_INT_MAX - 1 <= value <= _INT_MAX:
        raise ParseIntError(errno.ERANGE, text)
    return value


def parse_pid(text: str) -> int:
    """``parse_pid``: a positive pid; ``"0"``, negative or beyond pid_t give ERANGE."""
    value = safe_atou64(text)
    if not 0 < value <= _INT_MAX:
        raise ParseIntError(errno.ERANGE, text)
    return value
