"""``inspect --no-bind``: what a unit or config would bind, without binding anything.

Anyone can look at a unit for port 80 or ``/run`` without root: each socket's name, kind,
address and the options it would be bound with, where it came from (``file:line``), and the
notes (the unit's warnings, ports and directives the library does not handle, what
``Accept=yes`` means for ``exec``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..config import ListenSpec, ServerConfig
from ._options import config_from_args

__all__ = ["accept_note", "plan", "plan_table"]

_FLAGS = (
    "reuse_port",
    "free_bind",
    "transparent",
    "pass_credentials",
    "broadcast",
    "pass_security",
    "pass_packet_info",
)


def accept_note(specs: tuple[ListenSpec, ...]) -> str | None:
    """What ``exec`` does with ``Accept=yes`` sockets, or None when there are none."""
    accepting = [s for s in specs if s.accept]
    if not accepting:
        return None
    limit = min(s.max_connections for s in accepting)
    return (
        "Accept=yes: exec accepts each connection and runs the command once per connection "
        "(fd 3 the connection, LISTEN_FDS=1, LISTEN_FDNAMES=connection, REMOTE_ADDR, "
        f"REMOTE_PORT), at most {limit} at once (MaxConnections=)"
    )


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """``{"sockets": [...], "notes": [...]}``: the sockets the options describe, unbound."""
    notes: list[str] = []
    config = config_from_args(args, on_warning=notes.append)
    specs = config.listen_specs()
    sockets = [_row(spec, config) for spec in specs]
    note = accept_note(specs)
    if note:
        notes.append(note)
    return {"sockets": sockets, "notes": notes}


def _row(spec: ListenSpec, config: ServerConfig) -> dict[str, Any]:
    o = spec.bind_options(config)
    options: dict[str, Any] = {"backlog": o.backlog}
    if spec.address.is_unix and spec.address.kind.value == "unix":
        options["socket_mode"] = f"{o.socket_mode:04o}"
        if o.directory_mode is not None:
            options["directory_mode"] = f"{o.directory_mode:04o}"
        options.update({k: v for k, v in (("user", o.socket_user), ("group", o.socket_group)) if v})
    if spec.address.is_inet:
        options["bind_ipv6_only"] = o.bind_ipv6_only
    options.update({flag: True for flag in _FLAGS if getattr(o, flag)})
    extra = {
        "bind_to_device": o.bind_to_device,
        "keep_alive": o.keep_alive,
        "no_delay": o.no_delay,
        "receive_buffer": o.receive_buffer,
        "send_buffer": o.send_buffer,
        "defer_accept_sec": o.defer_accept,
        "keep_alive_time_sec": o.keep_alive_time,
        "keep_alive_interval_sec": o.keep_alive_interval,
        "keep_alive_probes": o.keep_alive_probes,
        "priority": o.priority,
        "mark": o.mark,
        "ip_tos": o.ip_tos,
        "ip_ttl": o.ip_ttl,
        "timestamping": o.timestamping if o.timestamping != "off" else None,
        "tcp_congestion": o.tcp_congestion,
    }
    options.update({k: v for k, v in extra.items() if v is not None})
    if spec.accept:
        options.update(accept=True, max_connections=spec.max_connections)
    return {
        "name": spec.name or "unknown",
        "kind": spec.address.kind_name,
        "address": spec.address.body,
        "options": options,
    }


def plan_table(result: dict[str, Any]) -> str:
    """The plan as a fixed-width table, then the notes."""
    rows = [("NAME", "KIND", "ADDRESS", "OPTIONS")]
    for s in result["sockets"]:
        shown = " ".join(f"{k}={_text(v)}" for k, v in s["options"].items())
        rows.append((s["name"], s["kind"], s["address"], shown))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.append("(nothing bound: --no-bind)")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def _text(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)
