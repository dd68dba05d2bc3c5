"""Restarts under load: the measurement behind a zero-downtime claim.

:func:`restart_under_load` keeps *clients* threads sending requests (one new connection each,
closed loop) to a server while it reloads or restarts it *restarts* times, and returns a
:class:`LoadResult`: how many requests were made, how many failed and how (refused, reset,
timed out, bad answer) and the worst latency. Every loop is bounded in requests and time, and
stops by itself. :func:`measure_load` is the same measurement for a server the test did not
start (one a systemd user manager restarts, say).

A request is ``ok`` when the server answered and *check* accepts the answer (by default: any
answer; for HTTP, a status below 500). Outcomes: ``refused`` (ECONNREFUSED: nobody listening),
``reset`` (ECONNRESET/EPIPE, or closed without an answer), ``timeout`` (no answer within
*request_timeout*), ``bad`` (*check* said no, or another socket error).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import ActivatedServer

__all__ = ["LoadResult", "Request", "measure_load", "restart_under_load"]

OUTCOMES = ("ok", "refused", "reset", "timeout", "bad")
_GET = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Request:
    """One request: when it started (``time.monotonic()``), how long it took, its outcome."""

    start: float
    latency: float
    outcome: str


@dataclass(frozen=True)
class LoadResult:
    """What the clients saw while the server restarted. ``failed == 0`` is zero downtime."""

    requests: int
    ok: int
    refused: int
    reset: int
    timeouts: int
    bad: int
    max_latency: float  # seconds, over every request (failed ones included)
    restarts: int  # reloads or restarts that completed
    restart_windows: tuple[tuple[float, float], ...]  # (start, ready) of each, monotonic
    samples: tuple[Request, ...] = field(repr=False, default=())

    @property
    def failed(self) -> int:
        """Every request that was not ``ok``."""
        return self.requests - self.ok

    @property
    def restart_seconds(self) -> tuple[float, ...]:
        """How long each restart took, from its start until the server was ready again."""
        return tuple(end - start for start, end in self.restart_windows)

    @property
    def during_restarts(self) -> tuple[Request, ...]:
        """The requests in flight at some moment of a restart: the ones the claim is about."""
        return tuple(
            r
            for r in self.samples
            if any(
                r.start <= end and r.start + r.latency >= start
                for start, end in self.restart_windows
            )
        )

    def summary(self) -> str:
        """One line for a report: ``412 requests (37 during 3 restarts), 0 failed (0 refused,
        ...), max latency 0.213 s``."""
        return (
            f"{self.requests} requests ({len(self.during_restarts)} during {self.restarts} "
            f"restarts), {self.failed} failed "
            f"({self.refused} refused, {self.reset} reset, {self.timeouts} timed out, "
            f"{self.bad} bad), max latency {self.max_latency:.3f} s"
        )


def http_ok(answer: bytes) -> bool:
    """Any answer; for HTTP/1.x, only a status below 500."""
    if not answer.startswith(b"HTTP/1."):
        return True
    parts = answer.split(b"\r\n", 1)[0].split()
    return len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < 500


def restart_under_load(
    server: ActivatedServer,
    *,
    clients: int = 4,
    restarts: int = 3,
    name: str | None = None,
    request: bytes = _GET,
    check: Callable[[bytes], bool] = http_ok,
    how: str = "auto",
    settle: float = 0.2,
    request_timeout: float = 10.0,
    max_requests: int = 100_000,
    ready_timeout: float = 30.0,
) -> LoadResult:
    """Load *server*'s socket *name* (default: the first) with *clients* threads while it is
    restarted *restarts* times; see the module docstring.

    ``how``: ``"reload"`` (:meth:`ActivatedServer.reload`: a ``supervise`` rollout, or
    ``Type=notify-reload``), ``"restart"`` (stop, then start again on the same sockets), or
    ``"auto"`` (reload under supervise, else restart). The server is made ready first; the
    load runs *settle* seconds before the first restart and after the last. Raises what the
    restart raises (:class:`~socket_activation.testing.ReloadError`...) after stopping the
    clients. At most *max_requests* requests are made.
    """
    if how == "auto":
        how = "reload" if server.supervised else "restart"
    if how not in ("reload", "restart"):
        raise ValueError(f"how must be 'auto', 'reload' or 'restart', got {how!r}")
    server.wait_ready(ready_timeout)

    def restart() -> None:
        if how == "reload":
            server.reload(ready_timeout)
        else:
            server.restart(ready_timeout)

    return measure_load(
        server.address(name),
        [restart] * restarts,
        clients=clients,
        request=request,
        check=check,
        settle=settle,
        request_timeout=request_timeout,
        max_requests=max_requests,
    )


def measure_load(
    address: tuple[str, int] | str,
    restarts: Sequence[Callable[[], object]],
    *,
    clients: int = 4,
    request: bytes = _GET,
    check: Callable[[bytes], bool] = http_ok,
    settle: float = 0.2,
    request_timeout: float = 10.0,
    max_requests: int = 100_000,
) -> LoadResult:
    """The same measurement for any server at *address* (``(host, port)`` or a Unix path):
    load it while each of *restarts* is called in turn (``systemctl restart``, say); each
    call is one restart window, over when it returns."""
    if clients < 1:
        raise ValueError(f"need clients >= 1, got {clients}")
    load = _Load(address, request, check, request_timeout, max_requests)
    windows: list[tuple[float, float]] = []
    load.start(clients)
    try:
        time.sleep(settle)
        for restart in restarts:
            began = time.monotonic()
            restart()
            windows.append((began, time.monotonic()))
        time.sleep(settle)
    finally:
        samples = load.stop()
    counts = Counter(s.outcome for s in samples)
    return LoadResult(
        requests=len(samples),
        ok=counts["ok"],
        refused=counts["refused"],
        reset=counts["reset"],
        timeouts=counts["timeout"],
        bad=counts["bad"],
        max_latency=max((s.latency for s in samples), default=0.0),
        restarts=len(windows),
        restart_windows=tuple(windows),
        samples=tuple(samples),
    )


class _Load:
    """Client threads, each: connect, send, read to EOF, record; until stopped or bounded."""

    def __init__(
        self,
        address: tuple[str, int] | str,
        request: bytes,
        check: Callable[[bytes], bool],
        timeout: float,
        max_requests: int,
    ) -> None:
        self.address = address
        self.request = request
        self.check = check
        self.timeout = timeout
        self.max_requests = max_requests
        self.samples: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, clients: int) -> None:
        for index in range(clients):
            thread = threading.Thread(target=self._run, name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> list[Request]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        with self._lock:
            return list(self.samples)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self._one()
            with self._lock:
                if len(self.samples) >= self.max_requests:
                    return
                self.samples.append(sample)

    def _one(self) -> Request:
        started = time.monotonic()
        try:
            with self._connect() as sock:
                sock.sendall(self.request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            outcome = "reset" if not answer else "ok" if self.check(answer) else "bad"
        except ConnectionRefusedError:
            outcome = "refused"
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            outcome = "reset"
        except TimeoutError:
            outcome = "timeout"
        except OSError:
            outcome = "bad"
        return Request(started, time.monotonic() - started, outcome)

    def _connect(self) -> socket.socket:
        if isinstance(self.address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.address)
            except BaseException:
                sock.close()
                raise
            return sock
        return socket.create_connection(self.address, timeout=self.timeout)
