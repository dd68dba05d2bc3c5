"""``supervise``'s early start: the argv scan that decides whether it may happen.

An on-demand service's first request waits for ``supervise`` to start its first generation;
importing argparse, ``socket`` and the supervisor before that costs tens of milliseconds. So
:func:`early_start`, called by ``cli.main`` before anything heavy is imported, starts the first
generation at once when the command line is one this scan fully understands:

- only ``--ready``, ``--ready-timeout``, ``--drain-timeout``, ``--restart``,
  ``--start-priority``, ``--start-nice`` and ``--exit-idle-time``, as ``--opt VALUE`` or
  ``--opt=VALUE`` (no abbreviations, no value that starts with ``-``), each value checked by
  the validator argparse uses (:mod:`._values`);
- then ``--`` and a non-empty command with no ``{`` or ``}`` (placeholders need the resolved
  sockets);
- on Linux, with no ``SOCKET_ACTIVATION_*`` variable set (they configure the resolver).

Anything else (``--health``, ``--watch``, ``--listen``, ``--unit``, ``--help``...) returns
None and the normal path runs unchanged. The environment checks (sockets passed to us) and
the spawn are in :mod:`socket_activation.restart.early`. ``cli/supervise.py`` then parses the
same words with argparse and hands the started child to the supervisor, or stops it if the
two ever disagree.
"""

from __future__ import annotations

import os
import sys

from ._values import READY_CHOICES, RESTART_CHOICES, START_PRIORITY_CHOICES, nice, seconds

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..restart.early import EarlyStart

__all__ = ["EarlyArgs", "early_start", "scan"]

ENV_PREFIX = "SOCKET_ACTIVATION_"


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in choices:
            raise ValueError(f"invalid choice: {text!r}")
        return text

    return check


# option -> (attribute, validator); argparse's defaults are in EarlyArgs
_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--ready": ("ready", _choice(READY_CHOICES)),
    "--ready-timeout": ("ready_timeout", seconds),
    "--drain-timeout": ("drain_timeout", seconds),
    "--restart": ("restart", _choice(RESTART_CHOICES)),
    "--start-priority": ("start_priority", _choice(START_PRIORITY_CHOICES)),
    "--start-nice": ("start_nice", nice),
    "--exit-idle-time": ("exit_idle_time", seconds),
}


class EarlyArgs:
    """What the scan understood: the option values (argparse's defaults otherwise) and the
    command after ``--``."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.ready = "notify"
        self.ready_timeout = 30.0
        self.drain_timeout = 30.0
        self.restart = "on-failure"
        self.start_priority: str | None = None
        self.start_nice: int | None = None
        self.exit_idle_time: float | None = None


def scan(words: Sequence[str]) -> EarlyArgs | None:
    """The options and command of ``supervise`` *words* (after the subcommand), or None when
    they hold anything the early start does not fully understand."""
    values: dict[str, object] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            command = list(words[index + 1 :])
            if not command or any("{" in arg or "}" in arg for arg in command):
                return None
            args = EarlyArgs(command)
            for attribute, value in values.items():
                setattr(args, attribute, value)
            return args
        option, sep, text = word.partition("=")
        if option not in _OPTIONS:
            return None
        if not sep:
            index += 1
            if index >= len(words):
                return None
            text = words[index]
            if text.startswith("-"):  # argparse's rules for such values are subtle: leave them
                return None
        attribute, validate = _OPTIONS[option]
        try:
            values[attribute] = validate(text)
        except ValueError:
            return None
        index += 1
    return None  # no "--": argparse takes the first other word as the command; let it


def early_start(words: Sequence[str], environ: dict[str, str] | None = None) -> EarlyStart | None:
    """Start the first generation now when *words* and the environment allow it (see the
    module docstring); None otherwise, nothing started and nothing changed."""
    env = dict(os.environ if environ is None else environ)
    if not sys.platform.startswith("linux") or any(k.startswith(ENV_PREFIX) for k in env):
        return None
    args = scan(words)
    if args is None:
        return None
    from ..restart.early import start_first

    return start_first(args.command, env)
