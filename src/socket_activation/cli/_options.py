"""The configuration options every command shares, and the config they produce.

``--listen ADDR`` and ``--listen-datagram ADDR`` keep their command-line order, interleaved,
like ``systemd-socket-activate -l``; ``--fdname N[:N...]`` names them in order (one name for
all, as systemd-socket-activate does). ``--unit``, ``--config`` and ``--plist`` load a file
source; the environment (``SOCKET_ACTIVATION_*``) applies under the command-line values.
"""

from __future__ import annotations

import argparse
import os

from .._errors import AddressError, ConfigError
from ..net.address import ListenAddress, Transport
from ._unit_arg import add_instance_option, unit_files

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._resolve import Resolution
    from ..config import ServerConfig

__all__ = [
    "add_command_argument",
    "add_config_options",
    "add_resolve_options",
    "command_from_args",
    "config_from_args",
    "expand_command",
    "resolve_from_args",
]

ENV_PREFIX = "SOCKET_ACTIVATION_"


class _Ordered(argparse.Action):
    """Append (transport, address) to one shared list, so both options keep argv order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        listens: list[tuple[Transport, str]] = list(getattr(namespace, "listens", None) or [])
        listens.append((self.const, str(values)))
        namespace.listens = listens


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Add --listen, --listen-datagram, --fdname, --unit, --config and --plist."""
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "-l",
        "--listen",
        metavar="ADDR",
        action=_Ordered,
        const=Transport.STREAM,
        help="listen on ADDR (PORT, IP:PORT, [IPV6]:PORT, /path, @abstract); repeatable",
    )
    group.add_argument(
        "-d",
        "--listen-datagram",
        metavar="ADDR",
        action=_Ordered,
        const=Transport.DATAGRAM,
        help="a datagram socket on ADDR (UDP for HTTP/3, unix-dgram); repeatable",
    )
    group.add_argument(
        "--fdname",
        metavar="NAME[:NAME...]",
        action="append",
        help="names for the sockets in order (LISTEN_FDNAMES); one name names them all",
    )
    group.add_argument("--unit", metavar="FILE", action="append", help="a systemd .socket unit")
    add_instance_option(group)
    group.add_argument("--config", metavar="FILE", help="a TOML file or pyproject.toml")
    group.add_argument("--plist", metavar="FILE", help="a launchd plist with a Sockets dict")
    parser.set_defaults(listens=[])


def _names(args: argparse.Namespace, count: int) -> list[str | None]:
    raw = [n for option in (args.fdname or []) for n in option.split(":")]
    if not raw:
        return [None] * count
    if len(raw) == 1:
        return raw * count
    if len(raw) != count:
        raise ConfigError(
            f"{len(raw)} names for {count} sockets: {':'.join(raw)!r}", source="--fdname"
        )
    return list(raw)


def config_from_args(
    args: argparse.Namespace, on_warning: Callable[[str], None] | None = None
) -> ServerConfig:
    """The ServerConfig the options describe (over the environment and any file); unit
    warnings go to *on_warning* (default: the ``socket_activation.config`` logger)."""
    overrides: dict[str, Any] = {}
    listens: list[tuple[Transport, str]] = list(getattr(args, "listens", []) or [])
    if listens:
        try:
            addresses = [ListenAddress.parse(text, transport) for transport, text in listens]
        except AddressError as exc:
            raise ConfigError(str(exc), source="--listen") from None
        names = _names(args, len(addresses))
        overrides["listen"] = [
            {"address": a, "name": n} for a, n in zip(addresses, names, strict=True)
        ]
    units = unit_files(getattr(args, "unit", None), getattr(args, "instance", None))
    toml = getattr(args, "config", None)
    plist = getattr(args, "plist", None)
    from ..sources import load_config

    config = load_config(
        overrides=overrides,
        env_prefix=ENV_PREFIX,
        environ=os.environ,
        toml=toml,
        unit=units[0] if units else None,
        unit_names=units[1] if units else None,
        unit_manager=getattr(args, "manager", None),
        plist=plist,
        on_warning=on_warning,
    )
    if getattr(args, "fdname", None) and not listens:
        names = _names(args, len(config.listen_specs()))
        specs = [
            spec.model_copy(update={"name": name})
            for spec, name in zip(config.listen_specs(), names, strict=True)
        ]
        config = config.model_copy(update={"listen": tuple(specs)})
    return config


def add_resolve_options(parser: argparse.ArgumentParser) -> None:
    """The configuration options plus ``--trust-pid1``: what every resolving command takes."""
    add_config_options(parser)
    parser.add_argument(
        "--trust-pid1",
        action="store_true",
        help="accept LISTEN_PID=1 when our parent is PID 1, a container init such as tini (opt-in)",
    )


def resolve_from_args(args: argparse.Namespace, *, nonblocking: bool = True) -> Resolution:
    """Resolve the sockets the options describe, as an app would."""
    from .._resolve import resolve

    # nothing configured: let resolve() build its default config only if it consults it, so
    # an activated start-up (an on-demand service's first request) does not import pydantic
    config = config_from_args(args) if _configured(args) else None
    return resolve(config, trust_pid1=args.trust_pid1, nonblocking=nonblocking)


def _configured(args: argparse.Namespace) -> bool:
    """True when an option or a SOCKET_ACTIVATION_* variable configures anything."""
    options = ("listens", "fdname", "unit", "config", "plist")
    if any(getattr(args, name, None) for name in options):
        return True
    return any(key.startswith(ENV_PREFIX) for key in os.environ)


def add_command_argument(parser: argparse.ArgumentParser) -> None:
    """The program to run, after ``--``."""
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")


def command_from_args(args: argparse.Namespace, verb: str) -> list[str]:
    """The program and its arguments after ``--``; a ConfigError when there is none."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise ConfigError(f"{verb} needs a command after '--'", source="command line")
    return command


def expand_command(command: list[str], resolution: Resolution) -> list[str]:
    """*command* with its ``{fd:NAME}``/``{fd}``/``{address:NAME}`` placeholders replaced for
    the sockets it will get at fds 3.., in resolution order (see restart/argv.py)."""
    from ..restart.argv import expand, slots

    sockets = resolution.sockets
    return expand(command, slots([s.name for s in sockets], [s.address for s in sockets]))
