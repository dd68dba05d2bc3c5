"""``socket-activation units``: print the systemd units (or launchd plist) of a config.

The units describe exactly the sockets the same options make ``exec`` bind: same order, names
and options, so the app runs the same under systemd, launchd or ``socket-activation exec``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from ..unitfile.render import render_plist, render_units
from ._options import add_config_options, config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "units",
        help="print the .socket/.service units (or launchd plist) for a config",
        description=(
            "Print the systemd .socket and .service units that give a service the sockets "
            "the configuration describes (same order, names, options), or with --plist-out a "
            "launchd plist. Loading them back (--unit/--plist) gives the same config."
        ),
    )
    parser.add_argument("--name", default="app", help="unit name / plist label (default: app)")
    parser.add_argument(
        "--exec",
        dest="exec_start",
        metavar="COMMAND",
        help="the service's command (default: socket-activation demo)",
    )
    parser.add_argument("--plist-out", action="store_true", help="print a launchd plist instead")
    parser.add_argument(
        "-o", "--output-dir", metavar="DIR", help="write the files into DIR instead of printing"
    )
    add_config_options(parser)
    parser.set_defaults(func=run_reporting)


def _default_command() -> list[str]:
    found = shutil.which("socket-activation")
    return [found, "demo"] if found else [sys.executable, "-m", "socket_activation", "demo"]


def run_reporting(args: argparse.Namespace) -> int:
    """:func:`run`, with what it cannot do as messages and exit statuses, never a traceback: a
    ``--exec`` that does not split is a usage error (65), a directory or file that cannot be
    written names it (73, EX_CANTCREAT)."""
    from .._errors import ConfigError, SocketActivationError

    if args.exec_start:
        try:
            shlex.split(args.exec_start)
        except ValueError as exc:
            raise ConfigError(f"cannot split {args.exec_start!r}: {exc}", source="--exec") from None
    try:
        return run(args)
    except SocketActivationError:
        raise
    except OSError as exc:
        where = exc.filename or args.output_dir
        print(f"socket-activation units: cannot write {where}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 73


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    command = shlex.split(args.exec_start) if args.exec_start else _default_command()
    if args.plist_out:
        files = {f"{args.name}.plist": render_plist(config, args.name, command).decode()}
    else:
        files = render_units(config, args.name, shlex.join(command))
    if args.output_dir:
        directory = Path(args.output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for file_name, text in files.items():
            (directory / file_name).write_text(text)
            print(directory / file_name)
        return 0
    if len(files) == 1:
        print(next(iter(files.values())), end="")
        return 0
    for file_name, text in files.items():
        print(f"# ---- {file_name}")
        print(text)
    return 0
