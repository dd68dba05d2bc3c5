"""``socket-activation supervise``: hold the sockets, run the server, restart it on SIGHUP.

The command runs with its sockets at fds 3.. (``LISTEN_FDS``, ``LISTEN_PID``,
``LISTEN_FDNAMES``) and a ``NOTIFY_SOCKET`` of ours. ``SIGHUP`` rolls out a new generation and
stops the old one only once the new one said ``READY=1`` (so does ``socket-activation reload``,
and with ``--watch PATH`` a file change); ``SIGTERM``/``SIGINT`` stop it and
exit with its status. Safe as a container's PID 1. See ``socket_activation.restart.supervisor``.
``--health``, ``--shutdown-delay`` and ``--watchdog`` (Kubernetes probes) are in ``._health``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._errors import ConfigError
from ..restart.supervisor import Supervisor
from ._health import add_health_options, serving_health
from ._options import (
    add_command_argument,
    add_resolve_options,
    command_from_args,
    expand_command,
    resolve_from_args,
)
from ._values import (
    READY_CHOICES,
    RESTART_CHOICES,
    START_PRIORITY_CHOICES,
    cpu_list,
    nice,
    seconds,
)

__all__ = ["register"]


def _seconds(text: str) -> float:
    try:
        return seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _nice(text: str) -> int:
    try:
        return nice(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cpus(text: str) -> frozenset[int]:
    try:
        return cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "supervise",
        help="run a server on held sockets; SIGHUP restarts it with zero downtime",
        description=(
            "Hold the configured sockets (inherited or bound) and run COMMAND with them at fds "
            "3.. (LISTEN_FDS) and a NOTIFY_SOCKET of ours. On SIGHUP start a new generation, "
            "wait for its READY=1, then SIGTERM the old one; if the new one fails first, the "
            "old keeps serving. SIGTERM/SIGINT stop the command and exit with its status."
        ),
    )
    add_resolve_options(parser)
    parser.add_argument(
        "--ready",
        choices=READY_CHOICES,
        default="notify",
        help="when a generation is ready: on its READY=1 (notify, default) or once started",
    )
    parser.add_argument(
        "--ready-timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="a new generation must say READY=1 within S seconds (default 30)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="an old generation gets S seconds after SIGTERM before SIGKILL (default 30)",
    )
    parser.add_argument(
        "--restart",
        choices=RESTART_CHOICES,
        default="on-failure",
        help="replace the serving generation when it dies (default: unless it exits 0)",
    )
    parser.add_argument(
        "--start-priority",
        choices=START_PRIORITY_CHOICES,
        default=None,
        help=(
            "a generation started while another serves runs at SCHED_IDLE (idle, the default; "
            "niced after 5 s still starting) or --start-nice levels lower (nice) until its "
            "READY=1, leaving the CPU to the one serving; needs the right to restore it: root, "
            "CAP_SYS_NICE or LimitNICE="
        ),
    )
    parser.add_argument(
        "--start-nice",
        type=_nice,
        default=None,
        metavar="N",
        help="nice levels for --start-priority nice (implied when given alone; default 10; 0: off)",
    )
    parser.add_argument(
        "--spare-cpus",
        type=_cpus,
        default=None,
        metavar="LIST",
        help=(
            "CPUs the serving generation does not use (keep it off them with CPUAffinity= or "
            "taskset): a new generation runs only there until READY=1, and the one it replaces "
            "drains and exits there"
        ),
    )
    parser.add_argument(
        "--exit-idle-time",
        type=_seconds,
        default=None,
        metavar="S",
        help=(
            "exit 0 (after STOPPING=1 and a drain) once no connection has been open or queued "
            "for S seconds, as the kernel sees it; the service manager keeps the sockets and "
            "starts the service again on the next connection (needs inherited sockets)"
        ),
    )
    add_health_options(parser)
    parser.add_argument(
        "--watch",
        metavar="PATH",
        action="extend",
        nargs="+",
        default=[],
        help=(
            "development: reload when a file under PATH changes (inotify); an edit that breaks "
            "start-up leaves the old generation serving; repeatable"
        ),
    )
    add_command_argument(parser)
    parser.set_defaults(func=run)


def _log(text: str) -> None:
    print(f"socket-activation supervise: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    command = command_from_args(args, "supervise")
    for path in args.watch:
        if not os.path.exists(path):
            raise ConfigError(f"cannot watch {path!r}: no such file or directory", source="--watch")
    early = getattr(args, "early", None)  # the first generation, started before the parse
    try:
        resolution = resolve_from_args(args, nonblocking=False)
    except BaseException:
        if early is not None:
            early.close("the sockets could not be resolved", _log)
        raise
    try:
        command = expand_command(command, resolution)
    except BaseException:
        resolution.close()
        raise
    if early is not None:
        why = early.disagreement(
            command,
            [s.socket.fileno() for s in resolution.sockets],
            [s.name for s in resolution.sockets],
        )
        if why:
            early.close(f"{why}; starting it again", _log)
            early = None
    if resolution.activated:  # otherwise the notes only say "not activated"
        for note in resolution.notes:
            _log(note)
    elif args.exit_idle_time is not None:
        resolution.close()
        raise ConfigError(
            "needs sockets a service manager holds (LISTEN_FDS from a .socket unit): on sockets "
            "supervise bound itself, exiting would close them and reset queued connections",
            source="--exit-idle-time",
        )
    try:
        with serving_health(args, _log) as health:
            supervisor = Supervisor(
                command,
                [s.socket for s in resolution.sockets],
                [s.name for s in resolution.sockets],
                ready=args.ready,
                ready_timeout=args.ready_timeout,
                drain_timeout=args.drain_timeout,
                restart=args.restart,
                log=_log,
                health=health,
                shutdown_delay=args.shutdown_delay,
                watch=args.watch,
                exit_idle_time=args.exit_idle_time,
                start_nice=10 if args.start_nice is None else args.start_nice,
                start_priority=args.start_priority
                or ("idle" if args.start_nice is None else "nice"),
                spare_cpus=args.spare_cpus,
                first=early,
            )
            return supervisor.run()
    finally:
        resolution.close()
