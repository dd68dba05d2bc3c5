"""A bounded closed-loop HTTP load: N client threads, one new connection per request.

Used by the restart fault tests and benchmarks/restart.py. Every request is recorded with its
start time, latency and outcome: ``ok``, ``refused`` (ECONNREFUSED), ``reset`` (ECONNRESET,
EPIPE, or the connection closed without a response) or ``other`` (timeouts, bad answers).
"""

from __future__ import annotations

import gc
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Load", "Sample"]

# a request that takes longer than this counts as failed ("other"): a hung server
_REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Sample:
    start: float  # time.monotonic() when the request began
    latency: float  # seconds
    outcome: str
    pid: int = 0  # the pid that answered (our test app puts it in the body)


@dataclass
class Load:
    """Run :meth:`start` ... :meth:`stop`; ``samples`` holds every request made."""

    address: tuple[str, int] | str
    clients: int = 4
    path: str = "/"
    max_requests: int = 200_000  # bound per run, whatever the duration
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> Load:
        # No cyclic GC while the load runs: with 100,000+ samples alive, a full collection
        # stops every client thread (they share the GIL) for 10-20 ms at once, which showed
        # as clustered "slow requests" in steady and restart windows alike
        # (benchmarks/restart.py). Samples hold no cycles; memory stays bounded by
        # max_requests. stop() turns it back on.
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        for thread in self._threads:
            thread.join(_REQUEST_TIMEOUT + 5)
        if getattr(self, "_gc_was_enabled", False):
            gc.enable()
        return self.samples

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def failures(self) -> Counter[str]:
        return Counter(s.outcome for s in self.samples if s.outcome != "ok")

    def _run(self) -> None:
        request = f"GET {self.path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode()
        while not self._stop.is_set():
            with self._lock:
                if len(self.samples) >= self.max_requests:
                    return
            sample = self.one(request)
            with self._lock:
                self.samples.append(sample)

    def one(self, request: bytes) -> Sample:
        started = time.monotonic()
        pid = 0
        try:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(_REQUEST_TIMEOUT)
                try:
                    sock.connect(self.address)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(self.address, timeout=_REQUEST_TIMEOUT)
            with sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                _close_without_time_wait(sock)
            if not data:
                outcome = "reset"
            elif data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]:
                outcome = "ok"
                body = data.split(b"\r\n\r\n", 1)[-1].strip()
                pid = int(body) if body.isdigit() else _json_pid(body)
            else:
                outcome = "other"
        except ConnectionRefusedError:
            outcome = "refused"
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            outcome = "reset"
        except OSError:
            outcome = "other"
        return Sample(started, time.monotonic() - started, outcome, pid)


def _json_pid(body: bytes) -> int:
    """The ``pid`` of a JSON answer (``socket-activation demo``'s), else 0."""
    if not body.startswith(b"{"):
        return 0
    try:
        value = json.loads(body).get("pid", 0)
    except ValueError:
        return 0
    return value if isinstance(value, int) else 0


# The server closes first (HTTP/1.0), so without this its side of every connection would sit in
# TIME_WAIT; a later SYN from a reused client port then meets that TIME_WAIT socket, which
# answers with an ACK instead of a SYN-ACK (per-connection timestamp offsets defeat the PAWS
# check), and the client retries only after the 1 s SYN timeout: whole-second stalls that look
# like the server's fault. An RST after the whole answer was read ends the server's side at once.
_LINGER_ZERO = struct.pack("ii", 1, 0)


def _close_without_time_wait(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
