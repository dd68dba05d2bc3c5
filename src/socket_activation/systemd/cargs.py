"""The C argument rules of python-systemd's binding, for the drop-in (:mod:`.daemon`).

``systemd.daemon``'s functions are C code behind ``PyArg_ParseTuple``: an fd or a flag is a C
``int`` (``"i"``: anything with ``__index__``, else ``TypeError``; outside ``int`` range,
``OverflowError``), a message or an address a C string (``"s"``: a ``str`` only, UTF-8, no NUL,
else ``ValueError``), a path goes through ``PyUnicode_FSConverter`` (``str``, ``bytes`` or
path-like, no NUL). Errors from libsystemd become ``OSError(errno, strerror[, path])``, which
Python turns into the builtin subclass of that errno (``ECONNREFUSED`` is
``ConnectionRefusedError``). Each rule here is one function, so the drop-in raises what the
binding raises, before it does anything.
"""

from __future__ import annotations

import errno
import operator
import os

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["binding_error", "c_int", "c_path", "c_str", "fd_sequence", "fileno_or_self"]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def c_int(value: Any) -> int:
    """A C ``int`` argument (``"i"``)."""
    number = operator.index(value)  # "'float' object cannot be interpreted as an integer"
    if number > _INT_MAX:
        raise OverflowError(f"signed integer is greater than maximum, got {number}")
    if number < _INT_MIN:
        raise OverflowError(f"signed integer is less than minimum, got {number}")
    return number


def c_str(value: Any, position: int, function: str) -> str:
    """A C string argument (``"s"``): a ``str`` without NUL that encodes to UTF-8."""
    if not isinstance(value, str):
        kind = type(value).__name__
        raise TypeError(f"{function}() argument {position} must be str, not {kind}")
    value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, as in the binding
    if "\0" in value:
        raise ValueError(f"embedded null character in {value!r}")
    return value


def c_path(value: Any) -> bytes | None:
    """A path argument (``PyUnicode_FSConverter``; ``None`` is no path): bytes without NUL."""
    if value is None:
        return None
    path = os.fsencode(value)  # TypeError for anything but str, bytes and path-likes
    if b"\0" in path:
        raise ValueError(f"embedded null byte in {value!r}")
    return path


def fd_sequence(fds: Any) -> list[int]:
    """``notify(fds=)``: a sequence of C ints; objects with ``fileno()`` are refused, as there.

    ``None`` is no fds (the binding, which documents ``fds=None``, raises ``TypeError`` for an
    explicit ``None``: the one place the drop-in is more lenient).
    """
    if fds is None:
        return []
    if isinstance(fds, dict) or not hasattr(fds, "__getitem__") or not hasattr(fds, "__len__"):
        raise TypeError(f"fds must be a sequence of ints, not {type(fds).__name__}")
    numbers = []
    for index in range(len(fds)):
        value = operator.index(fds[index])
        if not _INT_MIN <= value <= _INT_MAX:
            raise OverflowError(f"fd {value} in fds does not fit a C int")
        numbers.append(value)
    return numbers


def fileno_or_self(fileobj: Any) -> Any:
    """``fileobj.fileno()``, or *fileobj* itself when it has none (an int, or what fails later)."""
    try:
        return fileobj.fileno()
    except AttributeError:
        return fileobj


def binding_error(exc: OSError, path: bytes | None = None) -> OSError:
    """The binding's error for *exc*: errno and its text, and *path* as ``filename`` if given.

    ``OSError(errno, ...)`` builds the builtin subclass of that errno (``FileNotFoundError``...).
    """
    err = exc.errno if exc.errno is not None else errno.EIO
    if path is None:
        return OSError(err, os.strerror(err))
    return OSError(err, os.strerror(err), os.fsdecode(path))
