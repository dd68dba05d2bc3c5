"""Binding one socket for one :class:`ListenAddress`, safely.

The single place where the library creates listening sockets of its own. Guarantees:

- a socket is returned bound, listening (stream/seqpacket) and fully configured, or closed: no
  half-configured socket escapes, and the error keeps ``errno`` and names the address;
- a Unix socket path is replaced only when it holds a *stale socket* (nobody accepting); a
  regular file, directory or symlink, or a socket a live server accepts on, is left untouched;
- a Unix socket file never exists with wider permissions than asked;
- abstract sockets are never unlinked; Unix socket files are removed only by the process that
  created them (see :func:`forget_unix_socket` for handing one over).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Iterator

from .._errors import AddressInUseError, BindError, UnixPathError
from .._record import record, replace
from .address import AddressKind, ListenAddress, Transport

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

# Unix socket files this process created: path -> (st_dev, st_ino). Only these are removed.
_CREATED: dict[str, tuple[int, int]] = {}


@record
class BindOptions:
    """How to configure a socket before and after ``bind()``; defaults are the library's own.

    ``bind_ipv6_only``: ``"both"`` (dual-stack, IPV6_V6ONLY=0), ``"ipv6-only"``, or
    ``"default"`` (leave the kernel's ``net.ipv6.bindv6only`` default, as systemd does).
    Buffer sizes are bytes; ``defer_accept`` is seconds. ``None`` leaves the kernel default.
    """

    backlog: int = 2048
    socket_mode: int = 0o660
    directory_mode: int | None = None  # create missing parent directories with this mode
    bind_ipv6_only: str = "both"
    reuse_port: bool = False
    free_bind: bool = False
    transparent: bool = False
    bind_to_device: str | None = None
    keep_alive: bool | None = None
    no_delay: bool | None = None
    receive_buffer: int | None = None
    send_buffer: int | None = None
    defer_accept: float | None = None
    pass_credentials: bool = False
    socket_user: str | None = None
    socket_group: str | None = None
    nonblocking: bool = True


def has_so_reuseport() -> bool:
    """True when the platform has a working ``SO_REUSEPORT`` (Linux >= 3.9, BSD, macOS)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        return False
    return True


def bind_address(address: ListenAddress, options: BindOptions | None = None) -> socket.socket:
    """Create, configure, bind and (for stream sockets) listen on *address*.

    Raises :class:`AddressInUseError`, :class:`UnixPathError` or :class:`BindError`, each with
    the ``errno`` of the failure. On any error nothing is left open and no file is removed that
    this process did not find stale.
    """
    opts = options or BindOptions()
    if address.kind is AddressKind.INET:
        return _bind_inet(address, opts)
    if address.kind in (AddressKind.UNIX, AddressKind.ABSTRACT):
        return _bind_unix(address, opts)
    return _bind_vsock(address, opts)


def bind_workers(
    address: ListenAddress, options: BindOptions, count: int, *, shared: bool = False
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
        return [bind_address(address, options)] * count
    probe = bind_address(address, replace(options, backlog=1, reuse_port=False))
    address = address.with_port(probe.getsockname()[1])
    probe.close()
    grouped = replace(options, reuse_port=True)
    made: list[socket.socket] = []
    try:
        for _ in range(count):
            made.append(bind_address(address, grouped))
    except BaseException:
        close_all(made)
        raise
    return made


def close_all(sockets: list[socket.socket]) -> None:
    """Close each distinct socket of *sockets* once (worker lists repeat shared sockets)."""
    for sock in {id(s): s for s in sockets}.values():
        sock.close()


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


def _bind_inet(address: ListenAddress, opts: BindOptions) -> socket.socket:
    candidates = _inet_candidates(address)
    last: OSError | None = None
    for family, sockaddr in candidates:
        try:
            sock = socket.socket(family, _SOCK_TYPES[address.transport])
        except OSError as exc:  # e.g. EAFNOSUPPORT: no IPv6 in this kernel/namespace
            last = exc
            continue
        try:
            _configure_inet(sock, family, address, opts)
            sock.bind(sockaddr)
            _finish(sock, address, opts)
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


def _configure_inet(
    sock: socket.socket, family: int, address: ListenAddress, opts: BindOptions
) -> None:
    if address.transport is Transport.STREAM:
        # Rebind at once after a restart although old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and opts.bind_ipv6_only != "default":
        v6only = 1 if opts.bind_ipv6_only == "ipv6-only" else 0
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    if opts.reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if opts.free_bind:
        level = socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP
        # IP_FREEBIND (15) and IPV6_FREEBIND (78) are Linux values the socket module lacks.
        sock.setsockopt(level, 78 if family == socket.AF_INET6 else 15, 1)
    if opts.transparent:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, 75, 1)  # IPV6_TRANSPARENT
        else:
            sock.setsockopt(socket.IPPROTO_IP, 19, 1)  # IP_TRANSPARENT
    if opts.bind_to_device:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opts.bind_to_device.encode())
    if address.transport is Transport.STREAM:
        if opts.no_delay is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(opts.no_delay))
        if opts.defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, int(opts.defer_accept))
    _configure_common(sock, opts)


def _configure_common(sock: socket.socket, opts: BindOptions) -> None:
    if opts.keep_alive is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(opts.keep_alive))
    if opts.receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts.receive_buffer)
    if opts.send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts.send_buffer)
    if opts.pass_credentials and hasattr(socket, "SO_PASSCRED"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)


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


def _bind_unix(address: ListenAddress, opts: BindOptions) -> socket.socket:
    assert address.path is not None
    sock = socket.socket(socket.AF_UNIX, _SOCK_TYPES[address.transport])
    try:
        _configure_common(sock, opts)
        if address.kind is AddressKind.ABSTRACT:
            sock.bind("\0" + address.path)
        else:
            _bind_unix_path(sock, address, opts)
        _finish(sock, address, opts)
    except OSError as exc:
        sock.close()
        if isinstance(exc, BindError):
            raise
        raise _bind_error(exc, address) from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_unix_path(sock: socket.socket, address: ListenAddress, opts: BindOptions) -> None:
    path = str(address.path)
    if opts.directory_mode is not None:
        parent = os.path.dirname(path)
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, mode=opts.directory_mode, exist_ok=True)
    _clear_stale(path, address)
    with _restricted_mode(sock, opts.socket_mode):
        sock.bind(path)
    try:
        st = os.lstat(path)
        _CREATED[path] = (st.st_dev, st.st_ino)
        os.chmod(path, opts.socket_mode)
        if opts.socket_user or opts.socket_group:
            _chown(path, opts.socket_user, opts.socket_group)
    except BaseException:
        remove_unix_socket(path)
        raise


@contextlib.contextmanager
def _restricted_mode(sock: socket.socket, mode: int) -> Iterator[None]:
    """Make ``bind()`` create the socket file no wider than *mode*.

    Linux creates the file with the socket inode's mode minus the umask, so ``fchmod`` on the
    unbound socket is enough and thread-safe. Where that fails (macOS), the process umask is
    narrowed around ``bind()`` instead.
    """
    try:
        os.fchmod(sock.fileno(), mode)
    except OSError:
        narrowed = True
        old = os.umask(0o777 & ~mode)
    else:
        narrowed = False  # created as mode & ~umask: never wider than mode
    try:
        yield
    finally:
        if narrowed:
            os.umask(old)


def _clear_stale(path: str, address: ListenAddress) -> None:
    """Remove a stale socket file at *path*; refuse anything else that is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        what = "a symbolic link"
    elif stat.S_ISDIR(st.st_mode):
        what = "a directory"
    elif stat.S_ISREG(st.st_mode):
        what = "a regular file"
    elif not stat.S_ISSOCK(st.st_mode):
        what = "not a socket"
    else:
        what = ""
    if what:
        raise UnixPathError(
            errno.EEXIST,
            f"cannot listen on {path}: the path is {what}; refusing to remove it",
            address=str(address),
        )
    probe_type = socket.SOCK_STREAM if address.transport is Transport.STREAM else None
    if _socket_is_live(path, probe_type):
        raise AddressInUseError(
            errno.EADDRINUSE,
            f"address {path} is already in use — another server is accepting on it",
            address=str(address),
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _socket_is_live(path: str, probe_type: int | None) -> bool:
    """True when some process is bound and serving on the socket file at *path*."""
    for stype in (probe_type,) if probe_type else (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        with socket.socket(socket.AF_UNIX, stype) as probe:
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                continue  # nobody bound: stale
            except OSError as exc:
                if exc.errno == errno.EPROTOTYPE:  # a live socket of another type
                    return True
                continue
            return True
    return False


def _chown(path: str, user: str | None, group: str | None) -> None:
    import grp
    import pwd

    uid = pwd.getpwnam(user).pw_uid if user else -1
    gid = grp.getgrnam(group).gr_gid if group else -1
    os.chown(path, uid, gid)


def owns_unix_socket(path: str) -> bool:
    """True when *path* is the socket file this process created and it is still there."""
    recorded = _CREATED.get(path)
    if recorded is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == recorded


def remove_unix_socket(path: str) -> bool:
    """Unlink *path* if it is the socket file this process created; True when removed."""
    if not owns_unix_socket(path):
        _CREATED.pop(path, None)
        return False
    _CREATED.pop(path, None)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


def forget_unix_socket(path: str) -> None:
    """Give up ownership of *path* (it was handed to another process): never remove it."""
    _CREATED.pop(path, None)


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
