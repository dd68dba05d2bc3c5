"""``socket-activation reload [PID] [--timeout S]``: reload and wait for the outcome.

For ``ExecReload=socket-activation reload`` (systemd sets ``$MAINPID`` for it): asks that
``supervise`` or handoff-enabled server to roll out a new generation, waits until the new one
serves (or failed), and exits 0, or 1 with the reason on stderr, so that ``systemctl reload``
tells the truth. See ``socket_activation.restart.reload``.
"""

from __future__ import annotations

import os
import sys

from ..restart.reload import DEFAULT_TIMEOUT, ReloadError, request_reload

TYPE_CHECKING = False  # ExecReload= waits for this command: no typing/collections imports
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

__all__ = ["Words", "register", "scan"]

# sysexits.h EX_USAGE, as the other commands use for a missing argument
_EX_USAGE = 64


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"must be a positive number of seconds, got {text!r}")
    return value


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"must be a process id (a positive integer), got {text!r}")
    return int(text)


class Words:
    """The parsed command line: what argparse's Namespace holds for ``reload``."""

    def __init__(self, pid: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.pid = pid
        self.timeout = timeout


def scan(argv: Sequence[str]) -> Words | None:
    """``[PID] [--timeout S]`` as argparse would parse it, without importing argparse (7 ms
    of the command's start, with the ``re`` and ``gettext`` it brings); None for anything
    else (``--help``, a bad value, an abbreviation...), which argparse then parses and
    reports exactly as before."""
    words = Words()
    seen_pid = False
    index = 0
    while index < len(argv):
        word = argv[index]
        try:
            if word == "--timeout" and index + 1 < len(argv):
                index += 1
                if argv[index].startswith("-"):  # argparse's negative-number rules: leave them
                    return None
                words.timeout = _seconds(argv[index])
            elif word.startswith("--timeout="):
                words.timeout = _seconds(word.partition("=")[2])
            elif word.isdigit() and not seen_pid:
                words.pid, seen_pid = _pid(word), True
            else:
                return None
        except ValueError:
            return None
        index += 1
    return words


_HELP = "reload a supervise or handoff server and wait until the new generation serves"
_DESCRIPTION = (
    "Ask process PID (default: $MAINPID, which systemd sets for ExecReload=) to roll out "
    "a new generation, and wait for the outcome: exit 0 once the new generation sent "
    "READY=1 and the old one stopped accepting, or 1 with the reason when the new one "
    "exited, crashed or timed out first (the old one keeps serving)."
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    _arguments(sub.add_parser("reload", help=_HELP, description=_DESCRIPTION))


def main(argv: Sequence[str]) -> int:
    """``socket-activation reload ARGS`` without building every other command's parser.

    ExecReload= runs this on every reload, and the reload waits for it: importing all the
    commands cost ~150 ms of a ~190 ms start on this machine (``cli.main`` takes this path),
    and argparse itself 7 ms more, so the usual command lines skip it (:func:`scan`).
    """
    words = scan(argv)
    if words is not None:
        return run(words)
    import argparse

    parser = argparse.ArgumentParser(prog="socket-activation reload", description=_DESCRIPTION)
    _arguments(parser)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def _argparse_type(check: Callable[[str], float]) -> Callable[[str], float]:
    """*check* with its ValueError message shown by argparse (which hides a ValueError's)."""
    import argparse

    def converted(text: str) -> float:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    converted.__name__ = check.__name__.lstrip("_")
    return converted


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pid", nargs="?", type=_argparse_type(_pid), metavar="PID", help="default: $MAINPID"
    )
    parser.add_argument(
        "--timeout",
        type=_argparse_type(_seconds),
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"give up waiting after S seconds (default {DEFAULT_TIMEOUT:g}, systemd's own)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace | Words) -> int:
    pid: int | None = args.pid
    if pid is None:
        text = os.environ.get("MAINPID", "")
        if not text:
            print(
                "socket-activation reload: no PID given and $MAINPID is not set "
                "(systemd sets it for ExecReload=)",
                file=sys.stderr,
            )
            return _EX_USAGE
        try:
            pid = _pid(text)
        except ValueError as exc:
            print(f"socket-activation reload: $MAINPID {exc}", file=sys.stderr)
            return _EX_USAGE
    try:
        outcome = request_reload(pid, timeout=args.timeout)
    except ReloadError as exc:
        print(f"socket-activation reload: {exc}", file=sys.stderr)
        return 1
    print(f"socket-activation reload: {outcome.message}", flush=True)
    return 0
