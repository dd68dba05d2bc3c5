"""Waiting for the stop signal in an asyncio loop, as the integrations without their own do."""

from __future__ import annotations

import asyncio
import signal

__all__ = ["STOP_SIGNALS", "wait_for_stop"]

# what a service manager (SIGTERM) and a terminal (SIGINT) send to stop a server
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def wait_for_stop() -> None:
    """Return on the first SIGTERM or SIGINT (handlers installed for this call only)."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, event.set)
    try:
        await event.wait()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
