"""The systemd watchdog: is it on for us, and a keep-alive that pings only while the app is healthy.

:func:`watchdog_enabled` is ``sd_watchdog_enabled`` (SPEC.md G, R48-R50). The keep-alives ping
``WATCHDOG=1`` every half interval (R51):

* :func:`start_watchdog` / :func:`watchdog_keepalive` run as a task on the application's own
  asyncio event loop, so a loop that is blocked or spinning stops the pings and systemd kills
  and restarts the service - which is the point of a watchdog. A thread that pinged regardless
  would hide exactly that failure.
* :class:`WatchdogThread` is for synchronous apps: it pings only while a caller-supplied health
  check returns true.

asyncio and threading are imported on first use: a process that never starts a keep-alive does
not pay for them.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping

from .._errors import ActivationError
from .notify import watchdog_ping
from .numbers import ParseIntError, parse_pid, safe_atou64

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    import asyncio
    import threading

__all__ = [
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "WatchdogThread",
    "start_watchdog",
    "watchdog_enabled",
    "watchdog_keepalive",
]

WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
# USEC_INFINITY: systemd's "no timestamp"; an infinite watchdog is not a watchdog (R48)
_USEC_INFINITY = 2**64 - 1


def watchdog_enabled(
    unset_environment: bool = False,
    *,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
) -> int | None:
    """The watchdog interval in microseconds, or ``None`` when the watchdog is not on for us.

    ``None`` when ``WATCHDOG_USEC`` is unset, or ``WATCHDOG_PID`` names another process (*pid*
    defaults to ours). Numbers parse like libsystemd (``" 100"``, ``"0x10"`` are fine); a malformed
    value raises :class:`~socket_activation.ActivationError` naming the variable, with ``errno``
    ``EINVAL`` or ``ERANGE`` as libsystemd returns. With *unset_environment* both variables are
    removed from *environ* (default ``os.environ``) on every path.
    """
    env = os.environ if environ is None else environ
    try:
        text = env.get(WATCHDOG_USEC)
        if text is None:
            return None
        try:
            usec = safe_atou64(text)
        except ParseIntError as exc:
            raise ActivationError(
                f"{WATCHDOG_USEC} must be a positive integer (microseconds), got {text!r}",
                variable=WATCHDOG_USEC,
                errno=exc.errno,
            ) from None
        if usec in (0, _USEC_INFINITY):
            raise ActivationError(
                f"{WATCHDOG_USEC} must be a finite interval above 0, got {text!r}",
                variable=WATCHDOG_USEC,
                errno=errno.EINVAL,
            )
        pid_text = env.get(WATCHDOG_PID)
        if pid_text is not None:
            try:
                watchdog_pid = parse_pid(pid_text)
            except ParseIntError as exc:
                raise ActivationError(
                    f"{WATCHDOG_PID} must be a positive pid, got {pid_text!r}",
                    variable=WATCHDOG_PID,
                    errno=exc.errno,
                ) from None
            if watchdog_pid != (os.getpid() if pid is None else pid):
                return None  # meant for another process (e.g. we are a forked child)
        return usec
    finally:
        if unset_environment and isinstance(env, MutableMapping):
            env.pop(WATCHDOG_USEC, None)
            env.pop(WATCHDOG_PID, None)


def _period(
    interval_usec: int | None, environ: Mapping[str, str] | None, pid: int | None
) -> float | None:
    """Seconds between pings: half the interval (R51), or None when the watchdog is off."""
    if interval_usec is None:
        interval_usec = watchdog_enabled(environ=environ, pid=pid)
    if interval_usec is None:
        return None
    if interval_usec <= 0:
        raise ValueError(f"interval_usec must be positive, got {interval_usec}")
    return interval_usec / 2 / 1_000_000


async def _ping_forever(period: float, environ: Mapping[str, str] | None) -> None:
    import asyncio  # lazy: only apps that run a loop pay for asyncio

    while True:
        watchdog_ping(environ=environ)
        await asyncio.sleep(period)


def start_watchdog(
    *,
    interval_usec: int | None = None,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
) -> asyncio.Task[None] | None:
    """Start pinging ``WATCHDOG=1`` from the running event loop; ``None`` if the watchdog is off.

    Must be called from a coroutine. The task pings at once, then every half interval, for as
    long as the loop keeps running it: cancel it to stop. If a ping fails the task ends with that
    :class:`~socket_activation.NotifyError` (and systemd will act when the next ping is missed).
    *interval_usec* overrides ``WATCHDOG_USEC``.
    """
    import asyncio  # lazy: only apps that run a loop pay for asyncio

    period = _period(interval_usec, environ, pid)
    if period is None:
        return None
    loop = asyncio.get_running_loop()
    return loop.create_task(_ping_forever(period, environ), name="systemd-watchdog")


@contextlib.asynccontextmanager
async def watchdog_keepalive(
    *,
    interval_usec: int | None = None,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
) -> AsyncIterator[asyncio.Task[None] | None]:
    """``async with watchdog_keepalive():`` - :func:`start_watchdog` for the block's duration.

    Yields the task (``None`` when the watchdog is off). On exit the task is cancelled; a ping
    failure that ended it early is raised there.
    """
    import asyncio  # lazy: only apps that run a loop pay for asyncio

    task = start_watchdog(interval_usec=interval_usec, environ=environ, pid=pid)
    try:
        yield task
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class WatchdogThread:
    """Pings ``WATCHDOG=1`` from a thread every half interval, only while *healthy()* is true.

    *healthy* is called before each ping; false or an exception skips that ping, so systemd
    restarts a service that stays unhealthy. Use as a context manager, or :meth:`start` and
    :meth:`stop`. :attr:`enabled` is false (and nothing runs) when the watchdog is off.
    ``pings`` counts the pings sent; ``error`` holds a send failure that stopped the thread.
    """

    def __init__(
        self,
        healthy: Callable[[], bool],
        *,
        interval_usec: int | None = None,
        environ: Mapping[str, str] | None = None,
        pid: int | None = None,
    ) -> None:
        import threading  # lazy: only sync apps with a watchdog pay for threading

        self._healthy = healthy
        self._environ = environ
        self._period = _period(interval_usec, environ, pid)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0
        self.error: BaseException | None = None

    @property
    def enabled(self) -> bool:
        """Whether the watchdog is on for this process (so the thread would run)."""
        return self._period is not None

    def start(self) -> bool:
        """Start the thread; returns false (and starts nothing) when the watchdog is off."""
        import threading  # lazy: see __init__

        if self._period is None or self._thread is not None:
            return self._thread is not None
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float | None = None) -> None:
        """Stop pinging and wait for the thread (at most *timeout* seconds)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _is_healthy(self) -> bool:
        try:
            return bool(self._healthy())
        except Exception:
            return False  # a health check that crashes is an unhealthy app: withhold the ping

    def _run(self) -> None:
        assert self._period is not None
        while not self._stopped.is_set():
            if self._is_healthy():
                try:
                    watchdog_ping(environ=self._environ)
                except OSError as exc:
                    self.error = exc
                    return
                self.pings += 1
            self._stopped.wait(self._period)

    def __enter__(self) -> WatchdogThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
