"""A small HTTP/1.0 server for restart tests and benchmarks/restart.py.

Takes its sockets from LISTEN_FDS (or binds ``--listen`` HOST:PORT when nothing was passed), does
``--startup`` seconds of start-up work, says READY=1 through NOTIFY_SOCKET (handoff-aware),
then answers every request with its pid. SIGTERM: stop accepting, finish in-flight requests
(at most ``--drain`` seconds), exit 0 (or ``--exit-status``). With ``--upgrade-on-hup``, SIGHUP
upgrades it in place (``socket_activation.restart.handoff``); without it SIGHUP is ignored. With
``--serve-reload`` ``socket-activation reload PID`` upgrades it too (``restart.handoff_control``);
``--notify-reload`` makes each upgrade speak the ``Type=notify-reload`` protocol. After a
handoff the old process exits at ``SCHED_IDLE`` (``restart.retire``) unless ``--no-retire``;
every process logs ``exit policy idle|other`` as its last word. ``--exit-after-startup`` is
a control for benchmarks/restart.py: start up exactly as a new generation does, then exit 0
without serving or saying READY=1.
``--spare-cpus LIST`` gives the handoff spare CPUs (``restart.affinity``).

Faults for tests: ``--fault-file PATH`` holding ``exit-before-ready``, ``hang`` or
``crash-after-ready`` is taken (renamed away) by the first process that starts after it was
written, so exactly one generation misbehaves. A request for ``/slow`` takes 2 s.
Events go to stderr, or appended to the file ``$RESTART_APP_LOG`` names.
"""

from __future__ import annotations

import argparse
import atexit
import os
import selectors
import signal
import socket
import sys
import threading
import time

from socket_activation._errors import HandoffError
from socket_activation.net.address import ListenAddress
from socket_activation.restart.affinity import parse_cpus
from socket_activation.restart.handoff import HandoffResult, Upgrader, announce_ready
from socket_activation.restart.handoff_control import serve_reload_requests
from socket_activation.systemd.activation import systemd_activation

LOG_FILE = os.environ.get("RESTART_APP_LOG")


def log(text: str) -> None:
    line = f"app {os.getpid()}: {text}\n"
    if LOG_FILE:
        with open(LOG_FILE, "a") as f:
            f.write(line)
    else:
        sys.stderr.write(line)
        sys.stderr.flush()


def _policy_name() -> str:
    policy = os.sched_getscheduler(0)
    return (
        "idle" if policy == os.SCHED_IDLE else "other" if policy == os.SCHED_OTHER else str(policy)
    )


def take_fault(path: str | None) -> str:
    if not path:
        return ""
    taken = f"{path}.{os.getpid()}"
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        return ""
    with open(taken) as f:
        fault = f.read().strip()
    os.unlink(taken)
    return fault


def take_sockets(listen: list[str]) -> tuple[list[socket.socket], list[str]]:
    """What systemd (or an upgrade) passed; else bind each ``--listen`` HOST:PORT.

    Kept light on purpose (no pydantic config): the benchmark's start-up cost is --startup.
    """
    passed = systemd_activation().listeners
    if passed:
        return [fd.socket() for fd in passed], [fd.name for fd in passed]
    sockets = []
    for address in listen:
        parsed = ListenAddress.parse(address)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((parsed.host or "0.0.0.0", parsed.port or 0))
        sock.listen(2048)
        sockets.append(sock)
    return sockets, ["web"] * len(sockets)


class Server:
    def __init__(self, sockets: list[socket.socket], drain: float) -> None:
        self.sockets = sockets
        self.drain = drain
        self.stop = threading.Event()
        self.inflight = 0
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)

    def serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            for sock in self.sockets:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while not self.stop.is_set():
                for key, _ in selector.select(0.02):
                    listener = key.fileobj
                    assert isinstance(listener, socket.socket)
                    try:
                        conn, _addr = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    with self.lock:
                        self.inflight += 1
                    threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
        for sock in self.sockets:
            sock.close()  # ours only: the kernel queue lives on in the other process
        deadline = time.monotonic() + self.drain
        with self.lock:
            while self.inflight and time.monotonic() < deadline:
                self.idle.wait(deadline - time.monotonic())
            left = self.inflight
        log(f"drained, {left} requests cut off")

    def handle(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            if data.startswith(b"GET /slow"):
                time.sleep(2)
            body = f"{os.getpid()}\n".encode()
            head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            conn.sendall(head.encode() + body)
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.inflight -= 1
                self.idle.notify_all()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", default=[])
    parser.add_argument("--startup", type=float, default=0.0)
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument("--exit-status", type=int, default=0, help="after a SIGTERM drain")
    parser.add_argument("--ready-timeout", type=float, default=10.0)
    parser.add_argument("--upgrade-on-hup", action="store_true")
    parser.add_argument("--serve-reload", action="store_true")
    parser.add_argument("--notify-reload", action="store_true")
    parser.add_argument("--fault-file")
    parser.add_argument(
        "--bind-after-startup", action="store_true", help="start-up work first, then bind"
    )
    parser.add_argument(
        "--no-retire", action="store_true", help="after a handoff, exit at normal priority"
    )
    parser.add_argument(
        "--exit-after-startup", action="store_true", help="start up, then exit 0 unready"
    )
    parser.add_argument("--spare-cpus", help="the handoff's spare CPUs, e.g. 1 or 2-3")
    args = parser.parse_args()
    # registered first, so it runs last: after the handoff's retire_at_exit (atexit is LIFO)
    atexit.register(lambda: log(f"exit policy {_policy_name()}"))

    fault = take_fault(args.fault_file)
    if fault:
        log(f"fault {fault}")
    if args.bind_after_startup:  # how most servers start: load the app, then listen
        time.sleep(args.startup)
        args.startup = 0.0
    sockets, names = take_sockets(args.listen)
    server = Server(sockets, args.drain)
    upgrader = Upgrader(
        sockets,
        names=names,
        ready_timeout=args.ready_timeout,
        notify_reload=args.notify_reload,
        retire_after=not args.no_retire,
        spare_cpus=parse_cpus(args.spare_cpus) if args.spare_cpus else None,
    )
    hup = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        log(f"{signal.Signals(signum).name}: stopping")
        server.stop.set()

    def on_hup(signum: int, frame: object) -> None:
        hup.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup if args.upgrade_on_hup else signal.SIG_IGN)

    time.sleep(args.startup)  # start-up work: imports, caches, connections
    if fault == "exit-before-ready":
        return 3
    if fault == "hang":
        time.sleep(3600)
    if args.exit_after_startup:
        log("started up; exiting without serving")
        return 0
    announce_ready(status=f"serving {len(sockets)} sockets")
    if fault == "crash-after-ready":
        os._exit(70)
    log("ready")

    def do_upgrade() -> None:
        try:
            result = upgrader.upgrade()
        except HandoffError as exc:
            log(str(exc))
            return
        log(f"handed over to {result.pid}")
        server.stop.set()

    def watch_hup() -> None:
        while not server.stop.is_set():
            if hup.wait(0.05):
                hup.clear()
                threading.Thread(target=do_upgrade, daemon=True).start()

    if args.upgrade_on_hup:
        threading.Thread(target=watch_hup, daemon=True).start()
    if args.serve_reload:

        def upgraded(result: HandoffResult) -> None:
            log(f"handed over to {result.pid}")
            server.stop.set()

        service = serve_reload_requests(
            upgrader, on_upgraded=upgraded, on_failed=lambda exc: log(str(exc))
        )
    server.serve()
    if args.serve_reload:
        service.close()
    return int(args.exit_status)


if __name__ == "__main__":
    sys.exit(main())
