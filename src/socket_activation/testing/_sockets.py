"""The sockets a test binds for the process under test: from addresses, a config or a unit.

The same semantics as ``socket-activation exec``: the sockets of ``--listen`` addresses (port 0
binds a free port, so parallel test runs never race for one), of a ``ServerConfig``, or of
``.socket`` units (their ``Listen*=`` lines in order, named by ``FileDescriptorName=``, bound
with the unit's options). Nothing this process inherited is taken: the test binds its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._resolution import Resolution
    from ..config import ListenSpec, ServerConfig

__all__ = ["bind_sockets"]

PathArg = str | os.PathLike[str]


def bind_sockets(
    *,
    listen: Sequence[str | ListenSpec | Mapping[str, Any]] | None = None,
    names: Sequence[str] | str | None = None,
    config: ServerConfig | None = None,
    unit: PathArg | Sequence[PathArg] | None = None,
) -> Resolution:
    """Bind the sockets described by exactly one of *listen*, *config* or *unit*.

    *listen* items are address texts (``127.0.0.1:0``, ``datagram:[::1]:0``, ``/tmp/x.sock``,
    ``@name``), :class:`ListenSpec` values or ListenSpec mappings (``{"address": ...,
    "name": ...}``).

    *names* names the sockets in order (one name names them all), like ``--fdname``; without
    it, a socket is named by its spec (``name=``, ``FileDescriptorName=``) or ``unknown``.
    Raises :class:`~socket_activation.ConfigError` naming a bad address or unit line, and
    :class:`~socket_activation.BindError` when an address cannot be bound (nothing is left
    bound). Close the result with :meth:`Resolution.close`.
    """
    given = [what for what, value in (("listen", listen), ("config", config), ("unit", unit))]
    chosen = [
        what
        for what, value in (("listen", listen), ("config", config), ("unit", unit))
        if value is not None
    ]
    if len(chosen) != 1:
        raise ValueError(
            f"give exactly one of {', '.join(given)}, got {', '.join(chosen) or 'none'}"
        )
    from .._resolve import resolve
    from ..sources import load_config
    from ..systemd.activation import SystemdActivation

    if config is None:
        overrides: dict[str, Any] = {}
        if listen is not None:
            if isinstance(listen, (str, bytes)):
                raise TypeError(f"listen must be a list of addresses, got {listen!r}")
            if not listen:
                raise ValueError("listen=[] names no socket")
            overrides["listen"] = list(listen)
        config = load_config(overrides=overrides, env_prefix=None, unit=unit)
    if names is not None:
        config = _renamed(config, names)
    # an empty snapshot and no launchd: bind everything, whatever this process inherited
    resolution = resolve(
        config, nonblocking=False, systemd=SystemdActivation("", ()), launchd=False
    )
    for sock in resolution.bound:  # blocking, as systemd passes them (NonBlocking=no)
        sock.setblocking(True)
    return resolution


def _renamed(config: ServerConfig, names: Sequence[str] | str) -> ServerConfig:
    specs = config.listen_specs()
    wanted = [names] if isinstance(names, str) else list(names)
    if len(wanted) == 1:
        wanted *= len(specs)
    if len(wanted) != len(specs):
        raise ValueError(f"{len(wanted)} names for {len(specs)} sockets: {':'.join(wanted)!r}")
    from ..config import ListenSpec

    for name in wanted:  # model_copy skips validation: a bad name is refused here, named
        ListenSpec(address=specs[0].address, name=name)
    renamed = tuple(s.model_copy(update={"name": n}) for s, n in zip(specs, wanted, strict=True))
    return config.model_copy(update={"listen": renamed})
