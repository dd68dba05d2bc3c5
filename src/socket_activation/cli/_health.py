"""``supervise``'s Kubernetes options: ``--health ADDR``, ``--shutdown-delay S``, ``--watchdog S``.

:func:`add_health_options` adds them; :func:`serving_health` binds ``--health`` (before the first
generation starts, so probes see it starting) and serves ``/livez`` and ``/readyz`` from a thread
until the supervisor is done. See ``socket_activation.restart.health``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

from .._errors import AddressError, ConfigError
from ..net.address import AddressKind, ListenAddress
from ..net.bind import bind_address, remove_unix_socket
from ..restart.health import Health

__all__ = ["add_health_options", "serving_health"]


def _seconds(text: str, *, zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if value < 0 or (value == 0 and not zero):
        kind = "non-negative" if zero else "positive"
        raise argparse.ArgumentTypeError(f"must be a {kind} number of seconds, got {text!r}")
    return value


def add_health_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("health (Kubernetes probes)")
    group.add_argument(
        "--health",
        metavar="ADDR",
        help=(
            "serve /livez and /readyz over HTTP on ADDR (IP:PORT, /path): 200 or 503, "
            "answered by supervise itself while the app is busy or hung"
        ),
    )
    group.add_argument(
        "--shutdown-delay",
        type=lambda text: _seconds(text, zero=True),
        default=0.0,
        metavar="S",
        help=(
            "on SIGTERM turn /readyz to 503 at once, keep serving S seconds (so load "
            "balancers stop sending), then drain and exit (default 0)"
        ),
    )
    group.add_argument(
        "--watchdog",
        type=lambda text: _seconds(text, zero=False),
        metavar="S",
        help=(
            "start every generation with WATCHDOG_USEC for S seconds; /livez turns 503 when "
            "the serving one sends no WATCHDOG=1 for that long"
        ),
    )


@contextlib.contextmanager
def serving_health(args: argparse.Namespace, log: Callable[[str], None]) -> Iterator[Health | None]:
    """The :class:`Health` to give the supervisor, served on ``--health`` if given."""
    watchdog = getattr(args, "watchdog", None)
    health = Health(watchdog_usec=None if watchdog is None else round(watchdog * 1e6))
    text = getattr(args, "health", None)
    if not text:
        yield health if watchdog is not None else None
        return
    try:
        address = ListenAddress.parse(text)
    except AddressError as exc:
        raise ConfigError(str(exc), source="--health") from None
    # http.server costs ~12 ms: only supervise --health pays it
    from ..restart.health_server import HealthServer

    sock = bind_address(address)
    with HealthServer(sock, health) as server:
        log(f"health endpoints on {server.address}: /livez, /readyz")
        try:
            yield health
        finally:
            server.close()
            if address.kind is AddressKind.UNIX and address.path:
                remove_unix_socket(address.path)
