"""``socket-activation demo``: a small HTTP server whose sockets come from the library."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._demo_service import serve
from ._options import add_resolve_options, resolve_from_args

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
    add_resolve_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    resolution = resolve_from_args(args)
    try:
        serve(resolution, sys.stdout, fdstore=args.fdstore)
    finally:
        resolution.close()
    return 0
