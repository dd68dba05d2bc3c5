"""``socket-activation inspect``: resolve like an app would and say what it got, and why."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._resolve import Resolution
from ._options import add_resolve_options, resolve_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "inspect",
        help="show the sockets this process would serve on, and why",
        description=(
            "Resolve sockets as an app would, in this process: what systemd or launchd passed, "
            "else what the configuration binds (bound for the report, then closed). 'notes' "
            "explain anything ignored."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_resolve_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    resolution = resolve_from_args(args)
    try:
        if args.json:
            print(json.dumps(resolution.to_dict()))
        else:
            print(table(resolution))
    finally:
        resolution.close()
    return 0


def table(resolution: Resolution) -> str:
    """A fixed-width table of the sockets, then the notes."""
    rows = [("FD", "NAME", "SOURCE", "KIND", "ADDRESS", "LISTENING")]
    rows += [
        (str(s.fd), s.name, s.source, s.kind, s.address, "yes" if s.listening else "no")
        for s in resolution
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if not resolution.sockets:
        lines.append("(no sockets)")
    lines += [f"note: {note}" for note in resolution.notes]
    return "\n".join(lines)
