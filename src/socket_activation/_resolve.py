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

The matching is in :mod:`._match`, the returned values in :mod:`._resolution` (re-exported
here, where the rest of the package imports them).
"""

from __future__ import annotations

import socket

from ._match import address_of, match_specs
from ._record import replace
from ._resolution import Resolution, ResolvedSocket
from .launchd import activation as _launchd
from .net.address import AddressKind
from .net.bind import bind_workers, close_all
from .net.sockinfo import SocketInfo, describe_socket
from .systemd.activation import InheritedFd, SystemdActivation, systemd_activation

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .config import ListenSpec, ServerConfig

__all__ = ["Resolution", "ResolvedSocket", "resolve"]


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
    them: no ``listen()``, no options) and binds the others non-blocking; with ``False``,
    inherited sockets keep their mode and bound ones are blocking, as systemd passes them
    (``NonBlocking=no``) — what ``exec`` and ``supervise`` hand to a program. ``trust_pid1``
    accepts ``LISTEN_PID=1`` when our parent is PID 1, a container init such as tini
    (opt-in). ``systemd`` injects an activation snapshot (tests). ``launchd=False`` skips
    asking launchd; ``bind=False`` binds nothing (``inspect`` of what was passed). Raises
    :class:`ActivationError` for a malformed environment and :class:`BindError` when a socket
    cannot be bound (sockets bound before it are closed).
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

    matches, extra, match_notes = match_specs(config.listen_specs(), inherited)
    notes.extend(match_notes)
    notes.extend(
        f"fd {e.fd} ({e.name!r}, {e.kind} {address_of(e)}) was passed but matches no "
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
            served.append(
                _bind_spec(spec, config, bound_ports, owned, notes.append, nonblocking=nonblocking)
            )
    except BaseException:
        close_all(owned, unlink=True)  # a failed bind leaves no socket file behind
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
    warn: Callable[[str], None],
    *,
    nonblocking: bool,
) -> ResolvedSocket:
    address = spec.address
    key = (address.kind, address.host)
    if address.is_inet and address.port == 0 and key in bound_ports:
        # the UDP twin of a TCP socket bound to port 0 lands on the same port (HTTP/3)
        address = address.with_port(bound_ports[key])
    options = replace(spec.bind_options(config), nonblocking=nonblocking)
    workers = bind_workers(address, options, config.workers, warn=warn)
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
        sockname=info.sockname,
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
        sockname=info.sockname,
    )
