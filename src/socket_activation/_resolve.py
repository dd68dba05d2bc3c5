"""The resolver: the one module that knows every source of sockets.

:func:`resolve` gives a server the sockets to serve on, in this order of preference:

1. what the service manager passed: systemd (``LISTEN_FDS``, also ``Accept=yes`` connections,
   inetd-style stdin, and fds from the fd store) or launchd (``launch_activate_socket``);
2. otherwise, sockets bound here from the configuration.

When the configuration names no address of its own (defaults only), what the manager passed
*is* the configuration: every inherited socket is served and nothing is bound. When it names
addresses, each configured socket is matched to an inherited fd by name
(``FileDescriptorName=``), then by address (``[::]``/``0.0.0.0`` and v4-mapped forms are
normalised; port 0 matches any port), then by order among unnamed fds; what is missing is bound,
and what is extra is reported in ``notes`` and not served.
"""

from __future__ import annotations

import ipaddress
import socket

from ._record import record
from .launchd import activation as _launchd
from .net.address import AddressKind, ListenAddress
from .net.bind import bind_workers, close_all, remove_unix_socket
from .net.sockinfo import SocketInfo, describe_socket
from .systemd.activation import InheritedFd, SystemdActivation, systemd_activation

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from .config import ListenSpec, ServerConfig

__all__ = ["Resolution", "ResolvedSocket", "resolve"]

_Socket = socket.socket  # the field named `socket` below shadows the module in annotations


@record
class ResolvedSocket:
    """One socket to serve on, and where it came from.

    ``source`` is ``systemd``, ``inetd``, ``launchd`` or ``bound``; ``kind`` is ``tcp``,
    ``udp``, ``unix-stream``, ``unix-dgram``, ``unix-seqpacket``; ``address`` is canonical
    (``127.0.0.1:8080``, ``[::]:8080``, ``/run/app.sock``, ``@name``). ``listening`` is False
    for datagram sockets and for connections (``Accept=yes``, inetd). ``workers`` holds one
    socket per worker: the same object repeated when shared (every inherited socket), or
    distinct ``SO_REUSEPORT`` sockets when bound for several workers.
    """

    socket: socket.socket
    name: str
    source: str
    kind: str
    address: str
    listening: bool
    is_connection: bool = False
    spec: ListenSpec | None = None
    workers: tuple[_Socket, ...] = ()

    @property
    def fd(self) -> int:
        """The socket's file descriptor."""
        return self.socket.fileno()

    @property
    def inherited(self) -> bool:
        """True when the socket came from a service manager, not bound here."""
        return self.source != "bound"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``socket-activation inspect --json`` prints."""
        return {
            "fd": self.fd,
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "address": self.address,
            "listening": self.listening,
        }


@record
class Resolution:
    """The sockets to serve on, and notes explaining anything ignored."""

    sockets: tuple[ResolvedSocket, ...]
    notes: tuple[str, ...] = ()
    remote_addr: str | None = None
    remote_port: int | None = None
    bound: tuple[_Socket, ...] = ()  # the sockets resolve() bound: close() closes these

    def __iter__(self) -> Iterator[ResolvedSocket]:
        return iter(self.sockets)

    def __len__(self) -> int:
        return len(self.sockets)

    @property
    def activated(self) -> bool:
        """True when any socket came from a service manager."""
        return any(s.inherited for s in self.sockets)

    def named(self, name: str) -> tuple[ResolvedSocket, ...]:
        """The sockets with fd name *name*."""
        return tuple(s for s in self.sockets if s.name == name)

    def of_kind(self, *kinds: str) -> tuple[ResolvedSocket, ...]:
        """The sockets of the given kinds (``tcp``, ``udp``, ``unix-stream``, ...)."""
        return tuple(s for s in self.sockets if s.kind in kinds)

    @property
    def stream(self) -> tuple[ResolvedSocket, ...]:
        """Listening stream sockets (TCP and Unix): what an HTTP/1-2 server accepts on."""
        return tuple(s for s in self.sockets if s.listening)

    @property
    def datagram(self) -> tuple[ResolvedSocket, ...]:
        """Datagram sockets (UDP for HTTP/3, unix-dgram)."""
        return tuple(s for s in self.sockets if s.socket.type == socket.SOCK_DGRAM)

    def for_worker(self, index: int) -> list[socket.socket]:
        """The sockets worker *index* serves on (shared ones are the same object)."""
        return [s.workers[index % len(s.workers)] if s.workers else s.socket for s in self]

    def to_dict(self) -> dict[str, Any]:
        """``{"sockets": [...], "notes": [...]}``, as ``inspect --json`` prints it."""
        return {"sockets": [s.to_dict() for s in self.sockets], "notes": list(self.notes)}

    def close(self) -> None:
        """Close the sockets bound by :func:`resolve` and remove the Unix socket files it
        created (inherited sockets stay open; a file handed over to another process, or
        replaced since, is left alone)."""
        paths = [s.address for s in self.sockets if not s.inherited and s.address.startswith("/")]
        close_all(list(self.bound))
        for path in paths:
            remove_unix_socket(path)


def resolve(
    config: ServerConfig | None = None,
    *,
    nonblocking: bool = True,
    trust_pid1: bool = False,
    systemd: SystemdActivation | None = None,
    launchd: bool = True,
    bind: bool = True,
) -> Resolution:
    """The sockets this server should serve on; see the module docstring for the rules.

    *config* defaults to ``ServerConfig()`` (127.0.0.1:8000 when nothing is inherited).
    ``nonblocking`` puts inherited sockets in non-blocking mode (the only change ever made to
    them: no ``listen()``, no options). ``trust_pid1`` accepts ``LISTEN_PID=1`` when this is
    PID 2 under a container init (opt-in). ``systemd`` injects an activation snapshot (tests).
    ``launchd=False`` skips asking launchd; ``bind=False`` binds nothing (``inspect`` of what
    was passed). Raises :class:`ActivationError` for a malformed environment and
    :class:`BindError` when a socket cannot be bound (sockets bound before it are closed).
    """
    activation = systemd if systemd is not None else systemd_activation(trust_pid1=trust_pid1)
    notes = list(activation.notes)
    inherited = [entry for entry in activation.fds if entry.is_socket]
    source = activation.source
    if not inherited and launchd:
        names = config.launchd_names if config is not None else _launchd.DEFAULT_NAMES
        inherited, launchd_notes = _launchd_fds(names)
        notes.extend(launchd_notes)
        source = "launchd" if inherited else source

    if inherited and (config is None or not config.names_addresses):
        # what the manager passed is the configuration; no config (and no pydantic) needed
        workers = config.workers if config is not None else 1
        passed = tuple(_wrap(entry, source, nonblocking, workers) for entry in inherited)
        return Resolution(passed, tuple(notes), activation.remote_addr, activation.remote_port)
    if config is None:
        from .config import ServerConfig

        config = ServerConfig()

    served: list[ResolvedSocket] = []

    matches, extra, match_notes = _match(config.listen_specs(), inherited)
    notes.extend(match_notes)
    notes.extend(
        f"fd {e.fd} ({e.name!r}, {e.kind} {_address_of(e)}) was passed but matches no "
        "configured address; not served"
        for e in extra
    )
    owned: list[socket.socket] = []
    bound_ports: dict[tuple[AddressKind, str | None], int] = {}
    try:
        for spec, match in matches:
            if match is not None:
                served.append(_wrap(match, source, nonblocking, config.workers, spec))
                continue
            if not bind:
                notes.append(f"{spec.address} was not passed and binding is off")
                continue
            served.append(_bind_spec(spec, config, bound_ports, owned))
    except BaseException:
        close_all(owned)
        raise
    return Resolution(
        tuple(served),
        tuple(notes),
        activation.remote_addr,
        activation.remote_port,
        tuple(owned),
    )


def _launchd_fds(names: Sequence[str]) -> tuple[list[InheritedFd], list[str]]:
    """Ask launchd for *names* (not activated off macOS without the seam)."""
    activation = _launchd.launchd_activation(names)
    fds = [InheritedFd(fd, name, info) for name, fd, info in activation.sockets]
    return fds, list(activation.notes)


def _bind_spec(
    spec: ListenSpec,
    config: ServerConfig,
    bound_ports: dict[tuple[AddressKind, str | None], int],
    owned: list[socket.socket],
) -> ResolvedSocket:
    address = spec.address
    key = (address.kind, address.host)
    if address.is_inet and address.port == 0 and key in bound_ports:
        # the UDP twin of a TCP socket bound to port 0 lands on the same port (HTTP/3)
        address = address.with_port(bound_ports[key])
    workers = bind_workers(address, spec.bind_options(config), config.workers)
    owned.extend({id(s): s for s in workers}.values())
    info = describe_socket(workers[0])
    if address.is_inet and spec.address.port == 0:
        bound_ports.setdefault(key, int(workers[0].getsockname()[1]))
    return ResolvedSocket(
        socket=workers[0],
        name=spec.name or "unknown",
        source="bound",
        kind=info.kind,
        address=info.address,
        listening=info.listening,
        spec=spec,
        workers=tuple(workers),
    )


def _wrap(
    entry: InheritedFd,
    source: str,
    nonblocking: bool,
    workers: int,
    spec: ListenSpec | None = None,
) -> ResolvedSocket:
    sock = entry.socket(nonblocking=nonblocking)
    info = entry.info
    assert isinstance(info, SocketInfo)
    return ResolvedSocket(
        socket=sock,
        name=entry.name,
        source=source,
        kind=info.kind,
        address=info.address,
        listening=info.listening,
        is_connection=entry.is_connection,
        spec=spec,
        workers=(sock,) * workers,
    )


# -- matching ----------------------------------------------------------------------------------


def _address_of(entry: InheritedFd) -> str:
    return entry.info.address if isinstance(entry.info, SocketInfo) else "?"


def _compatible(spec: ListenSpec, entry: InheritedFd) -> bool:
    """Can *entry* serve *spec*: the same kind (tcp, udp, unix-stream, ...)."""
    return isinstance(entry.info, SocketInfo) and entry.info.kind == spec.address.kind_name


def _usable(spec: ListenSpec, entry: InheritedFd) -> bool:
    """Same kind, and names do not disagree (an fd named 'stray' never serves 'web')."""
    names_agree = spec.name is None or entry.name in ("unknown", spec.name)
    return names_agree and _compatible(spec, entry)


def _same_address(spec: ListenSpec, entry: InheritedFd) -> bool:
    """Does *entry*'s bound address equal the configured one, after normalising?"""
    info = entry.info
    if not isinstance(info, SocketInfo):
        return False
    want = spec.address
    if want.kind is AddressKind.UNIX:
        return info.address == want.path
    if want.kind is AddressKind.ABSTRACT:
        return info.address == f"@{want.path}"
    if want.kind is AddressKind.VSOCK:
        return info.address.endswith(f":{want.port}")
    host, _, port_text = info.address.rpartition(":")
    if not port_text.isdigit():
        return False
    if want.port and int(port_text) != want.port:
        return False
    return _same_host(want, host.strip("[]").split("%")[0])


def _normal(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


_ANY = {"0.0.0.0", "::"}


def _same_host(want: ListenAddress, have: str) -> bool:
    have = _normal(have)
    if want.host is None:  # port only: any address
        return have in _ANY
    wanted = _normal(want.host)
    if wanted in _ANY:
        return have in _ANY
    if wanted == have:
        return True
    try:
        ipaddress.ip_address(wanted)
    except ValueError:  # a host name: compare with what it resolves to
        try:
            infos = socket.getaddrinfo(wanted, None)
        except OSError:
            return False
        return any(_normal(str(i[4][0])) == have for i in infos)
    return False


def _match(
    specs: Sequence[ListenSpec], inherited: Sequence[InheritedFd]
) -> tuple[list[tuple[ListenSpec, InheritedFd | None]], list[InheritedFd], list[str]]:
    """Pair each spec with an inherited fd: by name, then address, then order.

    Returns the pairs (``None``: to be bound), the fds left over, and notes on order matches.
    """
    free = list(inherited)
    notes: list[str] = []
    pairs: list[tuple[ListenSpec, InheritedFd | None]] = [(spec, None) for spec in specs]

    def take(index: int, entry: InheritedFd) -> None:
        pairs[index] = (pairs[index][0], entry)
        free.remove(entry)

    # 1. by name (several fds may share one name: prefer the one with the same address)
    for i, spec in enumerate(specs):
        if spec.name is None:
            continue
        named = [e for e in free if e.name == spec.name and _compatible(spec, e)]
        if named:
            take(i, next((e for e in named if _same_address(spec, e)), named[0]))
    # 2. by address
    for i, spec in enumerate(specs):
        if pairs[i][1] is None:
            same = next((e for e in free if _usable(spec, e) and _same_address(spec, e)), None)
            if same is not None:
                take(i, same)
    # 3. by order, where names do not disagree
    for i, spec in enumerate(specs):
        if pairs[i][1] is None:
            found = next(
                (e for e in free if _usable(spec, e)),
                None,
            )
            if found is not None:
                take(i, found)
                notes.append(
                    f"fd {found.fd} ({found.name!r}, {_address_of(found)}) serves configured "
                    f"{spec.address} by order: no name or address matched"
                )
    return pairs, free, notes
