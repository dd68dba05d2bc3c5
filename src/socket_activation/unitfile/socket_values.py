"""The value of each ``[Socket]`` directive the unit source reads, as systemd 252 parses it.

One function per systemd parser (``load-fragment-gperf.gperf.in`` names which one each key
uses; the parsers are in ``conf-parser.c`` and ``load-fragment.c``). Each returns the parsed
value, or raises:

- :class:`IgnoredValueError`: systemd logs a warning and keeps the previous value (the rest of
  the unit loads). This is what almost every bad value does: an empty ``Backlog=``,
  ``KeepAlive=maybe``, ``BindIPv6Only=sometimes``, ``BindToDevice=a/b``, an invalid
  ``FileDescriptorName=``;
- :class:`RefusedUnitError`: systemd refuses to load the unit (an invalid ``SocketUser=``).

Pure; the caller names the file, line and key.
"""

from __future__ import annotations

from .values import parse_boolean, parse_mode, parse_size, parse_timespan

__all__ = [
    "BIND_IPV6_ONLY",
    "IgnoredValueError",
    "RefusedUnitError",
    "RESET",
    "bind_ipv6_only",
    "boolean",
    "fdname",
    "ifname",
    "iec_size",
    "integer",
    "ip_tos",
    "mode",
    "seconds",
    "timestamping",
    "unsigned",
    "user_group",
]

BIND_IPV6_ONLY = ("default", "both", "ipv6-only")
# What an empty assignment means for parsers that reset on "" (systemd's mfree/default)
RESET = object()
_UINT_MAX = 2**32 - 1
# IFNAMSIZ includes the NUL: an interface name has at most 15 bytes
_IFNAMSIZ = 16


class IgnoredValueError(ValueError):
    """systemd warns about this value and keeps the previous one."""


class RefusedUnitError(ValueError):
    """systemd refuses to load a unit with this value."""


def boolean(text: str) -> bool:
    """``config_parse_bool``: an empty value is not a reset, it is ignored with a warning."""
    try:
        return parse_boolean(text) if text.strip() else _fail_bool(text)
    except ValueError:
        raise IgnoredValueError(f"Failed to parse boolean value, ignoring: {text}") from None


def _fail_bool(text: str) -> bool:
    raise ValueError(text)


def unsigned(text: str) -> int:
    """``config_parse_unsigned`` (safe_atou: decimal, ``0x``, ``0o``, ``0b``, C octal ``0NN``)."""
    from ..systemd.numbers import ParseIntError, safe_atou

    try:
        value = safe_atou(text)
    except ParseIntError:
        raise IgnoredValueError(f"Failed to parse unsigned value, ignoring: {text}") from None
    if value > _UINT_MAX:
        raise IgnoredValueError(f"Failed to parse unsigned value, ignoring: {text}")
    return value


def mode(text: str) -> int:
    """``config_parse_mode``: octal up to 07777."""
    try:
        return parse_mode(text)
    except ValueError:
        raise IgnoredValueError(f"Failed to parse mode value, ignoring: {text}") from None


def iec_size(text: str) -> int:
    """``config_parse_iec_size``: ``256K`` = 262144; empty is ignored with a warning."""
    try:
        return parse_size(text)
    except ValueError:
        raise IgnoredValueError(f"Failed to parse size value '{text}', ignoring") from None


def seconds(text: str) -> float:
    """``config_parse_sec``: a time span in seconds; empty is ignored with a warning."""
    try:
        return parse_timespan(text)
    except ValueError:
        raise IgnoredValueError(f"Failed to parse sec value, ignoring: {text}") from None


def bind_ipv6_only(text: str) -> str:
    """``config_parse_socket_bind``: a boolean (yes: ``ipv6-only``, no: ``both``) or one of
    ``default``, ``both``, ``ipv6-only``."""
    try:
        return "ipv6-only" if parse_boolean(text) else "both"
    except ValueError:
        pass
    if text in BIND_IPV6_ONLY:
        return text
    raise IgnoredValueError(f"Failed to parse bind IPv6 only value, ignoring: {text}")


def ifname(text: str) -> str | object:
    """``config_parse_socket_bindtodevice``: empty or ``*`` unsets; else ``ifname_valid``."""
    if not text or text == "*":
        return RESET
    numeric = text.isascii() and text.isdigit()
    if (
        len(text.encode()) >= _IFNAMSIZ
        or text in (".", "..", "all", "default")
        or numeric
        or any(ord(c) <= 32 or ord(c) >= 127 or c in ":/%" for c in text)
    ):
        raise IgnoredValueError(f"Invalid interface name, ignoring: {text}")
    return text


def fdname(text: str) -> str:
    """``config_parse_fdname`` after specifiers: ``fdname_is_valid`` (R19)."""
    if len(text) > 255 or any(not (0x20 <= ord(c) < 0x7F) or c == ":" for c in text):
        raise IgnoredValueError(f"Invalid file descriptor name, ignoring: {text}")
    return text


def user_group(text: str) -> str:
    """``config_parse_user_group_compat`` after specifiers: ``valid_user_group_name`` with
    ALLOW_NUMERIC|RELAX (a uid/gid, or almost any name); anything else refuses the unit."""
    if _is_uid(text):
        return text
    if (
        not text
        or text != text.strip(" ")
        or any(ord(c) < 32 or ord(c) == 127 for c in text)
        or ":" in text
        or "/" in text
        or all(c in "0123456789" for c in text.removeprefix("-"))
        or text in (".", "..")
    ):
        raise RefusedUnitError(f"Invalid user/group name or numeric ID: {text}")
    return text


def _is_uid(text: str) -> bool:
    """``parse_uid``: decimal, no sign, no leading zero, below 2^32-1 and not 65535."""
    if not text.isascii() or not text.isdigit() or (text[0] == "0" and text != "0"):
        return False
    return int(text) < 2**32 - 1 and int(text) != 65535


def integer(text: str) -> int:
    """``config_parse_int`` (safe_atoi); empty is ignored with a warning."""
    from ..systemd.numbers import ParseIntError, safe_atoi

    try:
        return safe_atoi(text)
    except ParseIntError:
        raise IgnoredValueError(f"Failed to parse int value, ignoring: {text}") from None


# ip_tos_table of socket-util.c; a number 0..255 is accepted as well
_IP_TOS = {"low-delay": 0x10, "throughput": 0x08, "reliability": 0x04, "low-cost": 0x02}


def ip_tos(text: str) -> int | None:
    """``config_parse_ip_tos``: empty resets (None); a name or a number up to 255."""
    if not text:
        return None
    if text in _IP_TOS:
        return _IP_TOS[text]
    from ..systemd.numbers import ParseIntError, safe_atoi

    try:
        value = safe_atoi(text)
    except ParseIntError:
        value = -1
    if not 0 <= value <= 0xFF:
        raise IgnoredValueError(f"Failed to parse IP TOS value, ignoring: {text}")
    return value


def timestamping(text: str) -> str:
    """``socket_timestamping_from_string_harder``: off, us, ns, their aliases, or a boolean
    (yes is ns)."""
    if text in ("off", "us", "ns"):
        return text
    if text == "nsec":
        return "ns"
    if text in ("usec", "\u00b5s", "\u03bcs"):
        return "us"
    try:
        return "ns" if parse_boolean(text) else "off"
    except ValueError:
        raise IgnoredValueError(
            f"Failed to parse timestamping precision, ignoring: {text}"
        ) from None
