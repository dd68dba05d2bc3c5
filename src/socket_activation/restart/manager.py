"""What ``supervise`` tells its own service manager (the ``NOTIFY_SOCKET`` it was started with).

:class:`ManagerLink` sends the supervisor's messages, best effort: no ``NOTIFY_SOCKET`` means
nothing to tell, and a failed send goes to the log instead of failing the supervisor. It sends
``READY=1`` only with the first generation that becomes ready, and forwards from the serving
generation only the keys in :data:`FORWARD_KEYS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .._errors import NotifyError
from ..systemd.notify import NOTIFY_SOCKET, notify

__all__ = ["FORWARD_KEYS", "ManagerLink"]

# Notification keys worth passing from the serving generation up to the service manager.
FORWARD_KEYS = ("STATUS", "WATCHDOG", "EXTEND_TIMEOUT_USEC")


class ManagerLink:
    """The supervisor's side of ``sd_notify``; see the module docstring."""

    def __init__(self, environ: Mapping[str, str], log: Callable[[str], None]) -> None:
        self._manager = environ.get(NOTIFY_SOCKET) or None
        self._log = log
        self._announced = False

    def tell(self, state: str) -> None:
        """Send *state* (``KEY=value`` lines) if there is a manager; log a failure."""
        if self._manager is None:
            return
        try:
            notify(state, environ={NOTIFY_SOCKET: self._manager})
        except NotifyError as exc:
            self._log(str(exc))

    def serving(self, status: str) -> None:
        """A generation became ready: ``STATUS=``, with ``READY=1`` the first time."""
        if not self._announced:
            self._announced = True
            self.tell(f"READY=1\nSTATUS={status}")
        else:
            self.tell(f"STATUS={status}")

    def forward(self, fields: Mapping[str, str]) -> None:
        """Pass the :data:`FORWARD_KEYS` of a serving generation's notification up."""
        lines = [f"{k}={v}" for k, v in fields.items() if k in FORWARD_KEYS]
        if lines:
            self.tell("\n".join(lines))
