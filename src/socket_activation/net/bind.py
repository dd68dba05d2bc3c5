"""Binding one socket for one :class:`ListenAddress`, and one per worker, safely.

The single place where the library creates listening sockets of its own. Guarantees:

- a socket is returned bound, listening (stream/seqpacket) and fully configured, or closed: no
  half-configured socket escapes, and the error keeps ``errno`` and names the address;
- a Unix socket path is replaced only when it holds a stale socket, and the file is removed
  only by the process that created it (:mod:`.unixpath`); abstract sockets are never unlinked.

Socket options live in :mod:`.options`, the Unix socket file's life in :mod:`.unixpath`; both
are re-exported here, where the rest of the package imports them.
"""

from __future__ import annotations

import errno
import os
import socket

from .._errors import AddressInUseError, BindError
from .._record import replace
from .address import AddressKind, ListenAddress, Transport
from .options import BindOptions, Warn, apply_socket_options, configure_inet, has_so_reuseport
from .unixpath import bind_unix_path, forget_unix_socket, owns_unix_socket, remove_unix_socket

__all__ = [
    "BindOptions",
    "bind_address",
    "bind_workers",
    "close_all",
    "forget_unix_socket",
    "has_so_reuseport",
    "owns_unix_socket",
    "remove_unix_socket",
]

_SOCK_TYPES = {
    Transport.STREAM: socket.SOCK_STREAM,
    Transport.DATAGRAM: socket.SOCK_DGRAM,
    Transport.SEQPACKET: socket.SOCK_SEQPACKET,
}


def bind_address(
    address: ListenAddress, options: BindOptions | None = None, *, warn: Warn | None = None
) -> socket.socket:
    """Create, configure, bind and (for stream sockets) listen on *address*.

    An option the kernel refuses where systemd only warns (``SO_PASSCRED`` on a TCP socket,
    ``TCP_NODELAY`` on a Unix one, ...) is passed to *warn* (default: the
    ``socket_activation.bind`` logger) and the socket kept. Raises :class:`AddressInUseError`,
    :class:`UnixPathError` or :class:`BindError`, each with the ``errno`` of the failure. On
    any error nothing is left open, no socket file this call created is left behind, and no
    file is removed that this process did not find stale.
    """
    opts = options or BindOptions()
    report = warn or _log_warning
    if address.kind is AddressKind.INET:
        return _bind_inet(address, opts, report)
    if address.kind in (AddressKind.UNIX, AddressKind.ABSTRACT):
        return _bind_unix(address, opts, report)
    return _bind_vsock(address, opts)


def _log_warning(message: str) -> None:
    import logging  # only when there is something to log: logging costs ms at import

    logging.getLogger("socket_activation.bind").warning("%s", message)


def bind_workers(
    address: ListenAddress,
    options: BindOptions,
    count: int,
    *,
    shared: bool = False,
    warn: Warn | None = None,
) -> list[socket.socket]:
    """Sockets for *count* workers on *address*.

    A Unix or vsock address, ``count == 1``, ``shared`` or no ``SO_REUSEPORT``: one socket
    returned *count* times. Otherwise one ``SO_REUSEPORT`` socket per worker, after a probe bind
    WITHOUT ``SO_REUSEPORT``: if another process holds the address (perhaps in a reuseport
    group of its own), this fails with EADDRINUSE instead of silently joining its group
    (moq #2960). On failure part-way every socket already made is closed.
    """
    if count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if not address.is_inet or count == 1 or shared or not has_so_reuseport():
        return [bind_address(address, options, warn=warn)] * count
    probe = bind_address(address, replace(options, backlog=1, reuse_port=False), warn=warn)
    address = address.with_port(probe.getsockname()[1])
    probe.close()
    grouped = replace(options, reuse_port=True)
    made: list[socket.socket] = []
    try:
        for _ in range(count):
            made.append(bind_address(address, grouped, warn=warn))
    except BaseException:
        close_all(made)
        raise
    return made


def close_all(sockets: list[socket.socket], *, unlink: bool = False) -> None:
    """Close each distinct socket of *sockets* once (worker lists repeat shared sockets).

    ``unlink=True`` also removes the socket files this process created for them: what a failed
    bind of several sockets calls, so that no file is left behind.
    """
    # last bound first: a socket's directories are emptied before an earlier one's are removed
    for sock in reversed({id(s): s for s in sockets}.values()):
        path = _own_path(sock) if unlink else None
        sock.close()
        if path is not None:
            remove_unix_socket(path, created_dirs=True)


def _own_path(sock: socket.socket) -> str | None:
    if sock.family != socket.AF_UNIX or sock.fileno() < 0:
        return None
    name = sock.getsockname()
    return name if isinstance(name, str) and name.startswith("/") else None


# -- IP ----------------------------------------------------------------------------------------


def _inet_candidates(address: ListenAddress) -> list[tuple[int, tuple[object, ...]]]:
    """(family, sockaddr) to try in order: IPv6 first, then IPv4."""
    stype = _SOCK_TYPES[address.transport]
    port = address.port or 0
    if address.host is None:  # port only: [::] dual-stack, falling back to 0.0.0.0 (R63)
        candidates: list[tuple[int, tuple[object, ...]]] = []
        if socket.has_ipv6:
            candidates.append((socket.AF_INET6, ("::", port, 0, 0)))
        candidates.append((socket.AF_INET, ("0.0.0.0", port)))
        return candidates
    host = address.host if address.scope is None else f"{address.host}%{address.scope}"
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, stype, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(
            errno.EADDRNOTAVAIL,
            f"cannot resolve host {address.host!r} of listen address {address}: {exc.strerror}",
            address=str(address),
        ) from exc
    seen: list[tuple[int, tuple[object, ...]]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        entry = (int(family), tuple(sockaddr))
        if entry not in seen:
            seen.append(entry)
    seen.sort(key=lambda e: 0 if e[0] == socket.AF_INET6 else 1)  # stable: IPv6 first
    return seen


def _bind_inet(address: ListenAddress, opts: BindOptions, warn: Warn) -> socket.socket:
    candidates = _inet_candidates(address)
    last: OSError | None = None
    for family, sockaddr in candidates:
        try:
            sock = socket.socket(family, _SOCK_TYPES[address.transport])
        except OSError as exc:  # e.g. EAFNOSUPPORT: no IPv6 in this kernel/namespace
            last = exc
            continue
        try:
            configure_inet(sock, family, address, opts, warn)
            sock.bind(sockaddr)
            _finish(sock, address, opts)
            apply_socket_options(sock, address, opts, warn)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL) and len(candidates) > 1:
                last = exc
                continue
            raise _bind_error(exc, address) from exc
        except BaseException:
            sock.close()
            raise
        return sock
    assert last is not None
    raise _bind_error(last, address) from last


def _finish(sock: socket.socket, address: ListenAddress, opts: BindOptions) -> None:
    if address.transport is not Transport.DATAGRAM:
        sock.listen(opts.backlog)
    sock.setblocking(not opts.nonblocking)


def _bind_error(exc: OSError, address: ListenAddress) -> BindError:
    code = exc.errno or errno.EIO
    where = str(address)
    if code == errno.EADDRINUSE:
        return AddressInUseError(
            code, f"address {where} is already in use — is another server running?", address=where
        )
    if code == errno.EACCES:
        hint = (
            "ports below 1024 need root or CAP_NET_BIND_SERVICE"
            if address.is_inet
            else "check the directory's permissions"
        )
        return BindError(code, f"permission denied binding to {where} — {hint}", address=where)
    if code == errno.EADDRNOTAVAIL:
        return BindError(code, f"address {where} is not available on this machine", address=where)
    return BindError(code, f"cannot listen on {where}: {os.strerror(code)}", address=where)


# -- Unix --------------------------------------------------------------------------------------


def _bind_unix(address: ListenAddress, opts: BindOptions, warn: Warn) -> socket.socket:
    assert address.path is not None
    sock = socket.socket(socket.AF_UNIX, _SOCK_TYPES[address.transport])
    bound: str | None = None
    try:
        if address.kind is AddressKind.ABSTRACT:
            sock.bind("\0" + address.path)
        else:
            bind_unix_path(sock, address, opts)
            bound = address.path
        _finish(sock, address, opts)
        apply_socket_options(sock, address, opts, warn)
    except BaseException as exc:
        sock.close()
        if bound is not None:
            remove_unix_socket(bound, created_dirs=True)  # a failed bind leaves no file behind
        if isinstance(exc, OSError) and not isinstance(exc, BindError):
            raise _bind_error(exc, address) from exc
        raise
    return sock


# -- vsock -------------------------------------------------------------------------------------


def _bind_vsock(address: ListenAddress, opts: BindOptions) -> socket.socket:
    family = getattr(socket, "AF_VSOCK", None)
    if family is None:
        raise BindError(errno.EAFNOSUPPORT, f"AF_VSOCK is not available for {address}")
    try:
        sock = socket.socket(family, _SOCK_TYPES[address.transport])
    except OSError as exc:
        raise _bind_error(exc, address) from exc
    try:
        cid = address.cid if address.cid is not None else socket.VMADDR_CID_ANY
        sock.bind((cid, address.port or 0))
        _finish(sock, address, opts)
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, address) from exc
    return sock
