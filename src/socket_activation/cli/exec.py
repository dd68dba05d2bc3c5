"""``socket-activation exec``: bind what systemd would pass, then exec a program with it.

Dev parity and container entrypoints: the program gets its sockets at fds 3.. with
``LISTEN_FDS``, ``LISTEN_PID`` (its own pid: exec keeps it) and ``LISTEN_FDNAMES``, in the
order of the unit's ``Listen*=`` lines (or of ``--listen`` options). Sockets this process
inherited are passed through. ``--user``/``--group`` drop privileges after binding.

Sockets of an ``Accept=yes`` unit are not passed: each connection is accepted and the program
runs once per connection, as systemd runs it (:mod:`socket_activation.restart.accept`). A
program that cannot run ends in 127 (not found) or 126 (not executable), as in a shell.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .._errors import ConfigError
from ._exec_program import exec_program
from ._options import (
    add_command_argument,
    add_resolve_options,
    command_from_args,
    resolve_from_args,
)

__all__ = ["drop_privileges", "register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "exec",
        help="bind the configured sockets and exec a program with LISTEN_FDS",
        description=(
            "Bind exactly what systemd would pass for the configuration (same order, names and "
            "options), or take what this process inherited, then exec COMMAND in this process "
            "with the sockets at fds 3.. and LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES set."
        ),
    )
    add_resolve_options(parser)
    parser.add_argument("--user", help="switch to this user after binding (needs root)")
    parser.add_argument("--group", help="switch to this group after binding (needs root)")
    add_command_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    command = command_from_args(args, "exec")
    resolution = resolve_from_args(args, nonblocking=False)
    sockets = list(resolution.sockets)
    drop_privileges(args.user, args.group)
    return exec_program(command, sockets, resolution, dict(os.environ))


def drop_privileges(user: str | None, group: str | None) -> None:
    """Become *user* / *group* (names or numbers), dropping supplementary groups."""
    if not user and not group:
        return
    import grp
    import pwd

    def lookup_gid(name: str) -> int:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid

    try:
        entry = None
        if user:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        gid = lookup_gid(group) if group else (entry.pw_gid if entry else os.getgid())
    except KeyError as exc:
        raise ConfigError(
            f"no such user or group: {exc.args[0]}", source="--user/--group"
        ) from None
    os.setgroups([gid] if entry is None else os.getgrouplist(entry.pw_name, gid))
    os.setgid(gid)
    if entry is not None:
        os.setuid(entry.pw_uid)
        os.environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
