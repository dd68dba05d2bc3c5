"""``socket-activation demo``: a small HTTP server whose sockets come from the library."""

from __future__ import annotations

import argparse
import sys

from ._demo_service import serve
from ._options import add_resolve_options, resolve_from_args
from ._values import seconds

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "demo",
        help="serve a demo HTTP server (127.0.0.1:8000 unless activated or configured)",
        description=(
            "A stdlib HTTP server on the resolved sockets; every response names the socket "
            "that served it and where it came from (systemd, launchd, bound)."
        ),
    )
    parser.add_argument(
        "--fdstore",
        action="store_true",
        help="park bound sockets in systemd's fd store (unit needs FileDescriptorStoreMax=)",
    )
    parser.add_argument(
        "--exit-idle-time",
        type=_seconds,
        default=None,
        metavar="S",
        help=(
            "on demand: exit 0 (after STOPPING=1) once no connection has been open or queued "
            "for S seconds; the service manager keeps the socket and starts the demo again on "
            "the next connection (one passed stream socket)"
        ),
    )
    add_resolve_options(parser)
    parser.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        return seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    resolution = resolve_from_args(args)
    try:
        serve(resolution, sys.stdout, fdstore=args.fdstore, exit_idle_time=args.exit_idle_time)
    finally:
        resolution.close()
    return 0
