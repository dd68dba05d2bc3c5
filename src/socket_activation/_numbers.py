"""libsystemd's number parsing, exactly: ``safe_atou``, ``safe_atou64`` and ``parse_pid``.

systemd parses ``WATCHDOG_USEC``, ``WATCHDOG_PID`` and vsock ports with ``strtoul(base 0)`` plus its
own ``mangle_base`` (Python-style ``0b``/``0o`` prefixes), so ``" 100"``, ``"+0x10"`` and ``"010"``
(octal 8) are accepted while ``"1 "`` is not. Python's ``int()`` differs on every one of those, so
the C rules are spelled out here (SPEC.md R3, R7, R48, R49; source: parse-util.c). Pure functions:
each returns the value or raises :class:`ParseIntError` carrying the errno libsystemd returns.
"""

from __future__ import annotations

import errno

__all__ = ["ParseIntError", "parse_pid", "safe_atou", "safe_atou64"]

# systemd's WHITESPACE set, skipped before mangle_base looks for a 0b/0o prefix
_WHITESPACE = " \t\n\r"
# C isspace() in the C locale, skipped again by strtoul itself
_C_SPACE = " \t\n\v\f\r"
_DIGITS = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyz")}
_ULONG_MAX = 2**64 - 1
_UINT_MAX = 2**32 - 1
_PID_MAX = 2**31 - 1  # pid_t is a signed 32-bit int


class ParseIntError(ValueError):
    """The text does not parse; ``errno`` is what libsystemd returns (EINVAL or ERANGE)."""

    def __init__(self, err: int, text: str) -> None:
        self.errno = err
        self.text = text
        super().__init__(f"{text!r}: {errno.errorcode[err]}")


def _strtoul(s: str, base: int) -> tuple[int, int, bool]:
    """glibc ``strtoul``: (value, end index, overflowed); end 0 means no conversion."""
    i = 0
    while i < len(s) and s[i] in _C_SPACE:
        i += 1
    negative = False
    if i < len(s) and s[i] in "+-":
        negative = s[i] == "-"
        i += 1

    def is_digit(pos: int, b: int) -> bool:
        return pos < len(s) and _DIGITS.get(s[pos].lower(), 99) < b

    if base in (0, 16) and s[i : i + 2].lower() == "0x" and is_digit(i + 2, 16):
        base, i = 16, i + 2
    elif base == 0:
        base = 8 if s[i : i + 1] == "0" else 10
    start = i
    value = 0
    while is_digit(i, base):
        value = value * base + _DIGITS[s[i].lower()]
        i += 1
    if i == start:
        return 0, 0, False
    if value > _ULONG_MAX:
        return _ULONG_MAX, i, True
    if negative:
        value = (-value) & _ULONG_MAX
    return value, i, False


def safe_atou64(text: str) -> int:
    """``safe_atou64``: an unsigned 64-bit integer, base from the prefix (0x, 0o, 0b, 0)."""
    s = text.lstrip(_WHITESPACE)
    base = 0
    # mangle_base: Python-style prefixes, which plain strtoul does not know
    if s[:2] in ("0b", "0B"):
        s, base = s[2:], 2
    elif s[:2] in ("0o", "0O"):
        s, base = s[2:], 8
    value, end, overflow = _strtoul(s, base)
    if overflow:
        raise ParseIntError(errno.ERANGE, text)
    if end == 0 or end != len(s):
        raise ParseIntError(errno.EINVAL, text)
    if value != 0 and s.startswith("-"):
        raise ParseIntError(errno.ERANGE, text)
    return value


def safe_atou(text: str) -> int:
    """``safe_atou``: like :func:`safe_atou64`, limited to an unsigned 32-bit integer."""
    value = safe_atou64(text)
    if value > _UINT_MAX:
        raise ParseIntError(errno.ERANGE, text)
    return value


def parse_pid(text: str) -> int:
    """``parse_pid``: a positive pid; ``"0"``, negative or beyond pid_t give ERANGE."""
    value = safe_atou64(text)
    if not 0 < value <= _PID_MAX:
        raise ParseIntError(errno.ERANGE, text)
    return value
