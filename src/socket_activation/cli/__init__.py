"""The ``socket-activation`` command line: the only place that prints and picks exit codes.

Each subcommand lives in its own module with ``register(subparsers)`` adding its parser and
setting ``func``; :data:`COMMANDS` lists them in help order. Two commands start before argparse
is imported: ``reload`` (``ExecReload=`` waits for it) and, when ``cli._early`` allows it,
``supervise``'s first generation (an on-demand service's first request waits for it); the
started child then rides on the parsed arguments as ``args.early``.
"""

from __future__ import annotations

import sys

from .._errors import SocketActivationError

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ..restart.early import EarlyStart

__all__ = ["main"]

# module names under socket_activation.cli, in the order `--help` lists them
COMMANDS: tuple[str, ...] = ("inspect", "exec", "supervise", "reload", "units", "notify", "demo")

# exit codes (sysexits.h): 64 usage, 65 bad input data, 69 unavailable, 70 software, 71 OS error
EX_USAGE = 64
EX_DATAERR = 65
EX_OSERR = 71


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full argument parser, every subcommand registered (just *only*, when it names one:
    a service's start-up, e.g. ``supervise`` under an on-demand unit, skips the others'
    imports)."""
    import argparse  # here, not at the top: supervise's early start runs before it
    import importlib

    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="socket-activation",
        description="Give a server its listening sockets: systemd/launchd activation or bound.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only in COMMANDS else COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["reload"]:  # ExecReload= waits for it: skip importing every command
        from .reload import main as reload_main

        return reload_main(words[1:])
    early: EarlyStart | None = None
    if words[:1] == ["supervise"]:  # an on-demand service's first request waits for this
        from ._early import early_start

        early = early_start(words[1:])
    try:
        return _run(words, early)
    finally:
        if early is not None:  # adopted by the supervisor, or stopped here
            early.close("supervise did not take it over", _log_supervise)


def _log_supervise(text: str) -> None:
    print(f"socket-activation supervise: {text}", file=sys.stderr, flush=True)


def _run(words: list[str], early: EarlyStart | None) -> int:
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    if early is not None:
        args.early = early  # supervise's run() hands it to the supervisor
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EX_USAGE
    try:
        result: int = args.func(args)
    except SocketActivationError as exc:
        print(f"socket-activation: {exc}", file=sys.stderr)
        return EX_OSERR if isinstance(exc, OSError) else EX_DATAERR
    except KeyboardInterrupt:
        return 130
    return result
