"""What one idle check costs: sock_diag's view of a listener (net/sockdiag.py), per call.

``supervise --exit-idle-time`` samples every listening socket every min(1 s, S/10). A sample
is one netlink dump: TCP walks the kernel's table of established sockets (its cost grows
with the host's TCP sockets, TIME_WAIT ones included), Unix walks every Unix socket. This
prints the median and p90 wall time per check for a loopback TCP listener and a Unix one,
idle and with N connections of our own open on *another* listener (so the table the kernel
walks grows), beside the host's socket counts (/proc/net/sockstat) at the time, and beside
a ``TCP_INFO`` getsockopt (the accept queue alone: what a check would cost without the walk).

Run: ``.venv/bin/python benchmarks/idle_check.py [--calls N]``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from socket_activation.net.sockdiag import listener_activity  # noqa: E402


def sockstat() -> str:
    """'tcp inuse N tw M, unix K' from /proc/net/sockstat (this network namespace)."""
    fields: dict[str, list[str]] = {}
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        head, _, rest = line.partition(":")
        fields[head] = rest.split()
    tcp = dict(zip(fields["TCP"][::2], fields["TCP"][1::2], strict=True))
    unix = Path("/proc/net/unix").read_text().count("\n") - 1
    return f"tcp inuse {tcp.get('inuse')} tw {tcp.get('tw')}, unix {unix}"


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """(median, p90) microseconds per call."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


@contextlib.contextmanager
def connections(count: int) -> Iterator[None]:
    """*count* established loopback connections on a listener of their own."""
    with contextlib.ExitStack() as stack:
        other = stack.enter_context(socket.socket())
        other.bind(("127.0.0.1", 0))
        other.listen(count + 1)
        for _ in range(count):
            stack.enter_context(socket.create_connection(other.getsockname()))
            stack.enter_context(other.accept()[0])
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    rows = [("listener", "other connections open", "median us", "p90 us")]
    with tempfile.TemporaryDirectory() as tmp:
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(f"{tmp}/l.sock")
        unix.listen(16)
        with tcp, unix:
            info = (socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            med, p90 = timed(lambda: tcp.getsockopt(*info), args.calls)
            rows.append(("tcp: TCP_INFO only (queue)", "0", f"{med:.1f}", f"{p90:.1f}"))
            for extra in (0, 1000):
                with connections(extra):
                    for name, sock in (("tcp: sock_diag", tcp), ("unix: sock_diag", unix)):
                        med, p90 = timed(functools.partial(listener_activity, sock), args.calls)
                        rows.append((name, str(2 * extra), f"{med:.1f}", f"{p90:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"one idle check, {args.calls} calls each; host sockets now: {sockstat()}")
    for number, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
