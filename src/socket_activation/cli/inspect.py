"""``socket-activation inspect``: resolve like an app would and say what it got, and why."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._resolve import Resolution
from ._options import add_resolve_options, config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "inspect",
        help="show the sockets this process would serve on, and why",
        description=(
            "Resolve sockets as an app would, in this process: what systemd or launchd passed, "
            "else what the configuration binds (bound for the report, then closed; with "
            "--no-bind only shown). 'notes' explain anything ignored."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-bind",
        action="store_true",
        help="show what would be bound, and with which options, without binding (no root needed)",
    )
    add_resolve_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.no_bind:
        from ._inspect_plan import plan, plan_table

        result = plan(args)
        print(json.dumps(result) if args.json else plan_table(result))
        return 0
    from .._record import replace
    from .._resolve import resolve

    unit_notes: list[str] = []
    config = config_from_args(args, on_warning=unit_notes.append)
    resolution = with_accept_note(resolve(config, trust_pid1=args.trust_pid1))
    resolution = replace(resolution, notes=(*unit_notes, *resolution.notes))
    try:
        if args.json:
            print(json.dumps(resolution.to_dict()))
        else:
            print(table(resolution))
    finally:
        resolution.close()
    return 0


def with_accept_note(resolution: Resolution) -> Resolution:
    """*resolution* with a note on what exec does with Accept=yes sockets bound here."""
    from .._record import replace
    from ._inspect_plan import accept_note

    specs = tuple(s.spec for s in resolution if not s.inherited and s.spec is not None)
    note = accept_note(specs)
    return replace(resolution, notes=(*resolution.notes, note)) if note else resolution


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
