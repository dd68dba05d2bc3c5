"""A drop-in for python-systemd's ``systemd.daemon``, in pure Python.

::

    try:
        from systemd import daemon
    except ImportError:  # a slim container: no compiler, no libsystemd-dev
        from socket_activation import daemon

Same functions, signatures, return values and exceptions; the few deliberate differences are
listed in :mod:`socket_activation.systemd.daemon` and in the README ("Drop-in for
systemd.daemon"). ``import socket_activation`` does not import this module.
"""

from __future__ import annotations

from .systemd.daemon import (
    LISTEN_FDS_START,
    booted,
    is_fifo,
    is_mq,
    is_socket,
    is_socket_inet,
    is_socket_sockaddr,
    is_socket_unix,
    listen_fds,
    listen_fds_with_names,
    notify,
)

# the binding's private helpers, which its own test_daemon.py imports: importable, not exported
from .systemd.daemon import _is_fifo as _is_fifo  # noqa: PLC0414
from .systemd.daemon import _is_mq as _is_mq  # noqa: PLC0414
from .systemd.daemon import _is_socket as _is_socket  # noqa: PLC0414
from .systemd.daemon import _is_socket_inet as _is_socket_inet  # noqa: PLC0414
from .systemd.daemon import _is_socket_sockaddr as _is_socket_sockaddr  # noqa: PLC0414
from .systemd.daemon import _is_socket_unix as _is_socket_unix  # noqa: PLC0414
from .systemd.daemon import _listen_fds as _listen_fds  # noqa: PLC0414
from .systemd.daemon import _listen_fds_with_names as _listen_fds_with_names  # noqa: PLC0414

__all__ = [
    "LISTEN_FDS_START",
    "booted",
    "is_fifo",
    "is_mq",
    "is_socket",
    "is_socket_inet",
    "is_socket_sockaddr",
    "is_socket_unix",
    "listen_fds",
    "listen_fds_with_names",
    "notify",
]
