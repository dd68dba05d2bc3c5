"""The smallest LISTEN_FDS server that speaks sd_notify, for soaks of a thousand reloads.

Stdlib only and no import of socket_activation, so a generation starts in the time of a bare
interpreter (run it with ``python -I -S``). Takes fd 3 (LISTEN_FDS=1, LISTEN_PID ours), sends
``READY=1`` to ``NOTIFY_SOCKET``, answers every HTTP request with its pid. SIGTERM: close the
listener at once, finish the requests in flight, exit 0.
"""

import os
import selectors
import signal
import socket
import sys
import threading


def main() -> int:
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.stderr.write("tiny_app: expects one socket from LISTEN_FDS\n")
        return 2
    listener = socket.socket(fileno=3)
    listener.setblocking(False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    body = f"{os.getpid()}\n".encode()
    answer = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    workers: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(answer)

    address = os.environ.get("NOTIFY_SOCKET", "")
    if address:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            target = "\0" + address[1:] if address.startswith("@") else address
            notify.sendto(b"READY=1", target)
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while not stop.is_set():
            if not selector.select(0.02):
                continue
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            conn.setblocking(True)
            worker = threading.Thread(target=handle, args=(conn,))
            worker.start()
            workers.append(worker)
            workers = [w for w in workers if w.is_alive()]
    listener.close()
    for worker in workers:
        worker.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
