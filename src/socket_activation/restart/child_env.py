"""What every generation of ``supervise`` is given besides its sockets: its environment rules
and the name of the readiness socket it notifies.

Light on purpose (``os`` only): the early start (:mod:`.early`) uses it before ``socket`` or
the supervisor is imported, and :class:`~.supervisor.Supervisor` and
:class:`~.readiness.ReadinessSocket` use the same rules later, so both paths agree.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MANAGER_NOTIFY_SOCKET",
    "NOTIFY_SOCKET",
    "PRIVATE_VARIABLES",
    "child_environment",
    "notify_name",
]

NOTIFY_SOCKET = "NOTIFY_SOCKET"
# The service manager's NOTIFY_SOCKET while a new generation's NOTIFY_SOCKET points at its parent.
MANAGER_NOTIFY_SOCKET = "SOCKET_ACTIVATION_MANAGER_NOTIFY_SOCKET"
# Variables a generation must not inherit: they describe our relation with our manager.
PRIVATE_VARIABLES = (MANAGER_NOTIFY_SOCKET, "WATCHDOG_USEC", "WATCHDOG_PID")


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """*env* without :data:`PRIVATE_VARIABLES`: what every generation starts from."""
    return {k: v for k, v in env.items() if k not in PRIVATE_VARIABLES}


def notify_name(pid: int) -> str:
    """A fresh abstract name (without its leading NUL) for the readiness socket of *pid*:
    unguessable (64 random bits), though not secret: /proc/net/unix lists it and
    ``SCM_CREDENTIALS`` decide who is heard."""
    return f"socket-activation/notify/{pid}/{os.urandom(8).hex()}"
