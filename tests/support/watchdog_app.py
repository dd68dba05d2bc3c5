"""restart_app.py with a watchdog: a thread pings ``WATCHDOG=1`` every half ``WATCHDOG_USEC``.

For the health tests: ``supervise --watchdog S`` starts it with ``WATCHDOG_USEC``; stopping the
process (``SIGSTOP``) is a real hang, in which no ping goes out. Run with the checkout on
``PYTHONPATH`` (it imports tests.support.restart_app).
"""

from __future__ import annotations

import sys

from socket_activation.systemd.watchdog import WatchdogThread
from tests.support import restart_app


def main() -> int:
    with WatchdogThread(lambda: True) as watchdog:
        if not watchdog.enabled:
            restart_app.log("no WATCHDOG_USEC: no watchdog")
        return restart_app.main()


if __name__ == "__main__":
    sys.exit(main())
