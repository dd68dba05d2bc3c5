"""One ``sd_notify`` datagram as data: :func:`parse_notification` and :class:`Notification`.

:func:`parse_notification` is the pure part of the readiness socket
(:mod:`~socket_activation.restart.readiness`): one datagram to ``{KEY: VALUE}``, read as the
service manager reads it. :class:`Notification` is what the socket hands on: those fields and
the pid the kernel attached to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Notification", "parse_notification"]


def parse_notification(data: bytes) -> dict[str, str]:
    """``KEY=VALUE`` lines of one datagram as a dict; the last value of a repeated key wins.

    Lines without ``=`` and empty lines are ignored, as the manager ignores them. Invalid UTF-8
    is replaced rather than refused: the message is diagnostics, not input to trust.
    """
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


@dataclass(frozen=True, slots=True)
class Notification:
    """One datagram: who sent it (``pid``, ``None`` when the kernel attached no credentials)."""

    pid: int | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """True for ``READY=1``."""
        return self.fields.get("READY") == "1"

    @property
    def mainpid(self) -> int | None:
        """The pid a ``MAINPID=`` line names, or None (absent or not a positive integer)."""
        text = self.fields.get("MAINPID", "")
        return int(text) if text.isdigit() and int(text) > 0 else None
