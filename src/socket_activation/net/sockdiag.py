"""The kernel's view of a listening socket: its accept queue and its open connections.

``supervise`` does not see the connections its child accepts, and an unchanged server does not
tell anyone. The kernel knows both, through ``NETLINK_SOCK_DIAG`` (sock_diag(7)), pure Python:

- TCP (``inet_diag_req_v2``): the listener, found by its inode, reports its accept-queue length
  in ``idiag_rqueue``; the connections are the sockets whose local address is the listener's
  (a bytecode filter on the port runs in the kernel, the address is compared here).
- Unix stream/seqpacket (``unix_diag_req``): the listener's ``UNIX_DIAG_RQLEN`` is its accept
  queue; an accepted socket carries its listener's name (``UNIX_DIAG_NAME``), so the open
  connections are the connected sockets with that name.

A connection counts as open while a process holds it or while it is still arriving: states
``SYN_RECV``, ``ESTABLISHED`` and ``CLOSE_WAIT`` always; ``FIN_WAIT*``/``CLOSING``/``LAST_ACK``
only while a process still has the socket (inode non-zero: after ``close()`` the kernel
finishes the goodbye alone). ``TIME_WAIT`` never. One :func:`listener_activity` call costs one
or two netlink round trips (``benchmarks/idle_check.py`` measures it).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from .._errors import SocketActivationError
from .._record import record

__all__ = ["Activity", "SockDiagError", "check_watchable", "listener_activity"]

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_ROOT, _NLM_F_MATCH = 0x100, 0x200
_NLM_F_DUMP = _NLM_F_ROOT | _NLM_F_MATCH
_NLMSG_ERROR, _NLMSG_DONE = 2, 3

_NLMSGHDR = struct.Struct("=IHHII")
_NLATTR = struct.Struct("=HH")
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid
_INET_REQ = struct.Struct("=BBBxI")
_SOCKID = struct.Struct("!HH16s16s")  # sport, dport (big endian), src, dst; then if + cookie
_SOCKID_TAIL = struct.Struct("=I8s")
_INET_MSG = struct.Struct("=BBBB")  # family, state, timer, retrans; then sockid
_INET_MSG_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode
_INET_DIAG_REQ_BYTECODE = 1
_BC_OP = struct.Struct("=BBH")  # inet_diag_bc_op: code, yes, no
_BC_S_GE, _BC_S_LE = 2, 3
# unix_diag_req: family, protocol, pad, states, ino, show, cookie
_UNIX_REQ = struct.Struct("=BBxxIII8s")
_UNIX_MSG = struct.Struct("=BBBxI8s")  # family, type, state, ino, cookie
_UDIAG_SHOW_NAME, _UDIAG_SHOW_RQLEN = 0x01, 0x10
_UNIX_DIAG_NAME, _UNIX_DIAG_RQLEN = 0, 4
_NO_COOKIE = b"\xff" * 8
_UNIX_STREAMS = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)

# TCP states (include/net/tcp_states.h)
_ESTABLISHED, _SYN_RECV, _FIN_WAIT1, _FIN_WAIT2 = 1, 3, 4, 5
_TIME_WAIT, _CLOSE, _CLOSE_WAIT, _LAST_ACK, _LISTEN, _CLOSING = 6, 7, 8, 9, 10, 11
_NEW_SYN_RECV = 12
_ALWAYS_OPEN = frozenset({_ESTABLISHED, _SYN_RECV, _CLOSE_WAIT, _NEW_SYN_RECV})
_OPEN_WHILE_HELD = frozenset({_FIN_WAIT1, _FIN_WAIT2, _CLOSING, _LAST_ACK})
_CONNECTION_STATES = sum(1 << s for s in _ALWAYS_OPEN | _OPEN_WHILE_HELD)


class SockDiagError(SocketActivationError, OSError):
    """sock_diag could not describe a socket (unsupported kind, kernel without the module)."""


@record  # on an on-demand service's start-up path: no dataclasses import
class Activity:
    """What the kernel says about one listening socket at one moment."""

    queued: int  # connections in the accept queue, not yet accepted
    connections: int  # connections on the listener's address: arriving, queued or accepted

    @property
    def idle(self) -> bool:
        return self.queued == 0 and self.connections == 0


def check_watchable(sock: socket.socket) -> None:
    """:class:`SockDiagError` naming the fd unless *sock* is a TCP or Unix stream/seqpacket
    socket (no netlink query: cheap enough for a start-up path)."""
    inet = sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
    unix = sock.family == socket.AF_UNIX and sock.type in (
        socket.SOCK_STREAM,
        socket.SOCK_SEQPACKET,
    )
    if not (inet or unix):
        raise SockDiagError(
            errno.EOPNOTSUPP,
            f"fd {sock.fileno()}: only listening TCP and Unix stream sockets can be watched "
            f"(family {sock.family!r}, type {sock.type!r})",
        )


def listener_activity(sock: socket.socket) -> Activity:
    """The accept queue and open connections of the listening stream socket *sock*.

    Raises :class:`SockDiagError` for a socket that is not a listening TCP or Unix
    stream/seqpacket socket, or when the kernel answers with an error.
    """
    check_watchable(sock)
    inode = os.fstat(sock.fileno()).st_ino
    if sock.family == socket.AF_UNIX:
        return _unix_activity(sock, inode)
    return _inet_activity(sock, inode)


# -- netlink ---------------------------------------------------------------------------------


def _query(payload: bytes, flags: int) -> list[bytes]:
    """Send one SOCK_DIAG_BY_FAMILY request; the payloads of the answers (until DONE)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                       NETLINK_SOCK_DIAG) as nl:  # fmt: skip
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), SOCK_DIAG_BY_FAMILY, flags, 1, 0)
        nl.sendto(header + payload, (0, 0))
        out: list[bytes] = []
        while True:
            data = nl.recv(65536)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise SockDiagError(errno.EPROTO, f"sock_diag: bad message length {length}")
                body = data[offset + _NLMSGHDR.size : offset + length]
                offset += (length + 3) & ~3
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code == 0:  # an ACK
                        return out
                    raise SockDiagError(code, f"sock_diag: {os.strerror(code)}")
                out.append(body)
            if not flags & _NLM_F_DUMP:
                return out


def _attributes(data: bytes, offset: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while offset + _NLATTR.size <= len(data):
        length, kind = _NLATTR.unpack_from(data, offset)
        if length < _NLATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + _NLATTR.size : offset + length]
        offset += (length + 3) & ~3
    return found


# -- TCP -------------------------------------------------------------------------------------


def _port_filter(port: int) -> bytes:
    """inet_diag bytecode: sport >= port and sport <= port (S_EQ is newer than 4.x)."""
    code = _BC_OP.pack(_BC_S_GE, 8, 20) + _BC_OP.pack(0, 0, port)
    code += _BC_OP.pack(_BC_S_LE, 8, 12) + _BC_OP.pack(0, 0, port)
    return _NLATTR.pack(_NLATTR.size + len(code), _INET_DIAG_REQ_BYTECODE) + code


def _inet_dump(family: int, states: int, port: int) -> list[tuple[int, bytes, int, int]]:
    """(state, local address 16 bytes, rqueue, inode) of TCP sockets on local *port*."""
    sockid = _SOCKID.pack(0, 0, b"", b"") + _SOCKID_TAIL.pack(0, _NO_COOKIE)
    request = _INET_REQ.pack(family, socket.IPPROTO_TCP, 0, states) + sockid
    rows = []
    for body in _query(request + _port_filter(port), _NLM_F_REQUEST | _NLM_F_DUMP):
        _family, state, _timer, _retrans = _INET_MSG.unpack_from(body)
        sport, _dport, src, _dst = _SOCKID.unpack_from(body, _INET_MSG.size)
        tail = _INET_MSG.size + _SOCKID.size + _SOCKID_TAIL.size
        _expires, rqueue, _wqueue, _uid, inode = _INET_MSG_TAIL.unpack_from(body, tail)
        if sport == port:
            rows.append((state, src, rqueue, inode))
    return rows


def _inet_activity(sock: socket.socket, inode: int) -> Activity:
    family = sock.family
    host, port = sock.getsockname()[:2]
    size = 4 if family == socket.AF_INET else 16
    local = socket.inet_pton(family, host).ljust(16, b"\0")
    wildcard = local == b"\0" * 16
    queued = None
    connections = 0
    for state, src, rqueue, sock_inode in _inet_dump(
        family, (1 << _LISTEN) | _CONNECTION_STATES, port
    ):
        if state == _LISTEN:
            if sock_inode == inode:
                queued = rqueue
            continue
        if not wildcard and src[:size] != local[:size]:
            continue
        if state in _ALWAYS_OPEN or (state in _OPEN_WHILE_HELD and sock_inode):
            connections += 1
    if queued is None:
        raise SockDiagError(
            errno.ENOENT, f"sock_diag: no listening TCP socket with inode {inode} on port {port}"
        )
    return Activity(queued=queued, connections=connections)


# -- Unix ------------------------------------------------------------------------------------


def _unix_activity(sock: socket.socket, inode: int) -> Activity:
    name = sock.getsockname()
    raw_name = name if isinstance(name, bytes) else os.fsencode(name)
    if not raw_name:
        raise SockDiagError(errno.EINVAL, f"fd {sock.fileno()}: an unnamed Unix socket")
    show = _UDIAG_SHOW_NAME | _UDIAG_SHOW_RQLEN
    states = (1 << _LISTEN) | (1 << _ESTABLISHED)
    request = _UNIX_REQ.pack(socket.AF_UNIX, 0, states, 0, show, _NO_COOKIE)
    queued = None
    connections = 0
    for body in _query(request, _NLM_F_REQUEST | _NLM_F_DUMP):
        _family, kind, state, ino, _cookie = _UNIX_MSG.unpack_from(body)
        attrs = _attributes(body, _UNIX_MSG.size)
        if ino == inode:
            rqlen = attrs.get(_UNIX_DIAG_RQLEN)
            queued = struct.unpack_from("=I", rqlen)[0] if rqlen else 0
        elif state == _ESTABLISHED and kind == sock.type and _name(attrs) == raw_name:
            connections += 1  # an accepted socket carries its listener's name
    if queued is None:
        raise SockDiagError(errno.ENOENT, f"sock_diag: no Unix socket with inode {inode}")
    return Activity(queued=queued, connections=connections)


def _name(attrs: dict[int, bytes]) -> bytes | None:
    """A socket's name as getsockname() gives it (a path's trailing NUL removed)."""
    name = attrs.get(_UNIX_DIAG_NAME)
    if name is None or name.startswith(b"\0"):
        return name
    return name.rstrip(b"\0")
