"""``socket-activation notify``: sd_notify for shell entrypoints, like ``systemd-notify``.

Mirrors systemd-notify (252, plus ``--fd``/``--fdname``/``--stopping``/``--reloading`` from
newer versions): the message is sent on behalf of the *calling* process (our parent), so a shell
script that is a service's main process is the sender even under ``NotifyAccess=main``; the
kernel only lets privileged callers claim another pid, otherwise it is resent as our own. After
sending it waits (up to 5 s) with ``BARRIER=1`` until the manager has processed the message,
unless ``--no-block``. Exit status: 0 sent; 1 when ``NOTIFY_SOCKET`` is unset (nothing sent,
as systemd-notify); 64 usage; 65 a message the manager would drop; 71 sending failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..systemd.notify import NOTIFY_SOCKET, NotifyResult, barrier, notify, status_line

__all__ = ["register"]

# systemd-notify waits this long for the manager to confirm with BARRIER=1
_BARRIER_TIMEOUT = 5.0
EX_NOT_CONFIGURED = 1  # systemd-notify's EXIT_FAILURE when $NOTIFY_SOCKET is unset
EX_USAGE = 64


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``notify`` subcommand."""
    parser = subparsers.add_parser(
        "notify",
        help="tell the service manager about readiness and status (like systemd-notify)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--ready", action="store_true", help="send READY=1")
    parser.add_argument(
        "--reloading", action="store_true", help="send RELOADING=1 and MONOTONIC_USEC=now"
    )
    parser.add_argument("--stopping", action="store_true", help="send STOPPING=1")
    parser.add_argument("--status", metavar="TEXT", help="send STATUS=TEXT (one line)")
    parser.add_argument(
        "--pid",
        nargs="?",
        const="auto",
        metavar="PID",
        help="send MAINPID=PID and send as PID; 'auto'/'parent' (default when given without a "
        "value) is the calling process, 'self' this one",
    )
    parser.add_argument(
        "--fd",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="pass fd N along (repeatable); add FDSTORE=1 to store it",
    )
    parser.add_argument("--fdname", metavar="NAME", help="send FDNAME=NAME for the passed fds")
    parser.add_argument(
        "--no-block", action="store_true", help="do not wait for the manager to process it"
    )
    parser.add_argument(
        "--booted",
        action="store_true",
        help="only check whether the system runs systemd (exit 0) or not (exit 1)",
    )
    parser.add_argument("assignments", nargs="*", metavar="VARIABLE=VALUE")
    parser.set_defaults(func=run)


def _resolve_pid(value: str) -> int:
    if value in ("auto", "parent"):
        return os.getppid()
    if value == "self":
        return os.getpid()
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise ValueError(f"--pid must be a positive pid, 'auto', 'self' or 'parent', got {value!r}")


def _sender_pid(main_pid: int | None) -> int:
    """Whom the message claims to come from: --pid, else our caller (as systemd-notify does)."""
    if main_pid is not None:
        return main_pid
    parent = os.getppid()
    # never claim to be PID 1 or the service manager itself
    if parent <= 1 or str(parent) == os.environ.get("MANAGERPID"):
        return 0
    return parent


def _message(args: argparse.Namespace, main_pid: int | None) -> str:
    fields: dict[str, str] = {}
    if args.ready:
        fields["READY"] = "1"
    if args.reloading:
        fields["RELOADING"] = "1"
        fields["MONOTONIC_USEC"] = str(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
    if args.stopping:
        fields["STOPPING"] = "1"
    if args.status is not None:
        fields["STATUS"] = status_line(args.status).partition("=")[2]
    if main_pid is not None:
        fields["MAINPID"] = str(main_pid)
    if args.fdname is not None:
        fields["FDNAME"] = args.fdname
    for assignment in args.assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ValueError(f"expected VARIABLE=VALUE, got {assignment!r}")
        fields[key] = value  # later assignments win, as in systemd-notify
    return "\n".join(f"{key}={value}" for key, value in fields.items())


def run(args: argparse.Namespace) -> int:
    """Send the notification; see the module docstring for exit codes."""
    if args.booted:
        return 0 if os.path.lexists("/run/systemd/system/") else 1
    try:
        main_pid = None if args.pid is None else _resolve_pid(args.pid)
        message = _message(args, main_pid)
    except ValueError as exc:
        print(f"socket-activation notify: {exc}", file=sys.stderr)
        return EX_USAGE
    if not message:
        print("socket-activation notify: nothing to send", file=sys.stderr)
        return EX_USAGE
    for fd in args.fd:
        try:
            os.fstat(fd)
        except OSError as exc:
            print(f"socket-activation notify: --fd {fd}: {exc.strerror}", file=sys.stderr)
            return EX_USAGE
    result = notify(message, fds=args.fd, pid=_sender_pid(main_pid))
    if result is NotifyResult.SENT and not args.no_block:
        result = barrier(_BARRIER_TIMEOUT)
    if result is NotifyResult.NOT_CONFIGURED:
        print(f"No status data could be sent: ${NOTIFY_SOCKET} was not set", file=sys.stderr)
        return EX_NOT_CONFIGURED
    return 0
