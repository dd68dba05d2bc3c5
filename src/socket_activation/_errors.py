"""The exception tree of socket-activation.

Every error the library raises derives from :class:`SocketActivationError`. Leaves also derive
from the builtin with the same meaning, so a caller's ``except ValueError`` or ``except OSError``
keeps working, and ``errno`` is kept on every ``OSError`` leaf::

    SocketActivationError
    ├── AddressError(ValueError)          a listen address string that does not parse
    ├── ConfigError(ValueError)           an invalid configuration; names its source
    │   └── UnitFileError                 a unit file / plist problem; names file, line and key
    ├── ActivationError(OSError, ValueError)  malformed LISTEN_* / WATCHDOG_* environment, or
    │                                     a passed fd that is not open; names the variable;
    │                                     .errno is what libsystemd returns, as on the OSError
    │                                     systemd.daemon raises (and a ValueError, as before)
    ├── InheritedSocketError(ValueError)  an inherited fd that is closed, not a socket, or of the
    │                                     wrong kind; names the fd and what it is
    ├── BindError(OSError)                binding a socket failed; .errno kept, address named
    │   ├── AddressInUseError             EADDRINUSE (also a live Unix socket at the path)
    │   └── UnixPathError                 something that is not a stale socket sits at the path,
    │                                     or the path is too long
    ├── NotifyError(OSError)              sending to NOTIFY_SOCKET failed
    ├── NotifyMessageError(ValueError)    a notification refused before sending: the manager
    │                                     would drop it (size, NUL, fd count, bad FDNAME)
    ├── LaunchdError(OSError)             launch_activate_socket failed with an unexpected errno
    └── HandoffError(RuntimeError)        a zero-downtime upgrade could not be completed

Grouping classes carry no builtin: only leaves do. ``ActivationError`` is both an ``OSError`` and
a ``ValueError``, as ``io.UnsupportedOperation`` is: python-systemd raises ``OSError`` with
libsystemd's errno (``EINVAL``, ``ERANGE``, ``EBADF``) for the same input, so code written for it
says ``except OSError``; this library always raised a ``ValueError``, so code written for it says
``except ValueError``. Both keep working. The one visible change: an ``except OSError`` clause
placed before an ``except ValueError`` now takes it. Its ``args`` are ``(errno, strerror)`` as on
any ``OSError``; ``str()`` is still the message naming the variable.

:mod:`socket_activation.daemon` (the drop-in for ``systemd.daemon``) raises what python-systemd
raises: builtin ``OSError`` subclasses chosen by errno (``ConnectionRefusedError``, ...),
``ValueError``, ``TypeError``, ``OverflowError``; only its ``listen_fds*()`` raise
``ActivationError``.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "ActivationError",
    "AddressError",
    "AddressInUseError",
    "BindError",
    "ConfigError",
    "HandoffError",
    "InheritedSocketError",
    "LaunchdError",
    "NotifyError",
    "NotifyMessageError",
    "SocketActivationError",
    "UnitFileError",
    "UnixPathError",
]


class SocketActivationError(Exception):
    """Base class of every error raised by socket-activation."""


class AddressError(SocketActivationError, ValueError):
    """A listen address that does not parse; the message quotes it."""


class ConfigError(SocketActivationError, ValueError):
    """An invalid configuration. ``source`` names where it came from (env, a file, code)."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class UnitFileError(ConfigError):
    """A systemd unit file or launchd plist that cannot be used.

    ``path``, ``line`` and ``key`` say where; any of them may be ``None`` when not known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = path or "<unit>"
        if line is not None:
            where = f"{where}:{line}"
        if key is not None:
            message = f"{key}=: {message}"
        super().__init__(message, source=where)


class ActivationError(SocketActivationError, OSError, ValueError):
    """Malformed activation environment (``LISTEN_FDS``, ``LISTEN_PID``, ...).

    ``variable`` names the environment variable; ``errno`` is the error libsystemd returns for the
    same input (``EINVAL``, ``ERANGE``, ``EBADF``) and ``strerror`` its text, as on the
    ``OSError`` python-systemd raises, so ``except OSError`` around ``listen_fds()`` catches it;
    ``str()`` is the message naming the variable. Also a ``ValueError``, as it always was.
    """

    errno: int  # always set, unlike a bare OSError's

    def __init__(self, message: str, *, variable: str | None, errno: int = _errno.EINVAL) -> None:
        super().__init__(errno, os.strerror(errno))
        self.variable = variable
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = _errno.errorcode.get(self.errno or 0, str(self.errno))
        return f"{type(self).__name__}({self.message!r}, variable={self.variable!r}, errno={name})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_activation_error, (type(self), self.message, self.variable, self.errno))


def _activation_error(
    cls: type[ActivationError], message: str, variable: str | None, errno: int
) -> ActivationError:
    """Unpickle an :class:`ActivationError` (its arguments are keyword-only)."""
    return cls(message, variable=variable, errno=errno)


class InheritedSocketError(SocketActivationError, ValueError):
    """An inherited fd that cannot be served: closed, not a socket, or not the kind asked for."""

    def __init__(self, message: str, *, fd: int) -> None:
        self.fd = fd
        super().__init__(message)


class BindError(SocketActivationError, OSError):
    """Creating or binding a listening socket failed; ``errno`` and ``address`` are kept."""

    def __init__(self, err: int, message: str, *, address: str | None = None) -> None:
        super().__init__(err, message)
        self.address = address

    def __str__(self) -> str:
        return f"{self.strerror} [Errno {self.errno}: {os.strerror(self.errno or 0)}]"


class AddressInUseError(BindError):
    """The address is already in use (``EADDRINUSE``): another server is listening there."""


class UnixPathError(BindError):
    """A Unix socket path that cannot be used: occupied by a non-socket, or too long."""


class NotifyError(SocketActivationError, OSError):
    """Sending a notification to the service manager failed; ``errno`` is kept."""


class LaunchdError(SocketActivationError, OSError):
    """``launch_activate_socket`` returned an error other than "not activated"."""


class HandoffError(SocketActivationError, RuntimeError):
    """A zero-downtime upgrade could not be completed; the old process keeps serving."""


class NotifyMessageError(SocketActivationError, ValueError):
    """A notification refused before sending, because the manager would drop it silently.

    Over 4096 bytes, an embedded NUL, more than 253 fds, a multi-line ``STATUS=``, or an invalid
    ``FDNAME=``; the message names the offending value.
    """
