"""Small child programs for the plugin's tests, run as ``python -c CODE``.

Each talks the sd_notify protocol with a raw socket (not the library), so what the plugin sees
does not depend on the code it tests.
"""

from __future__ import annotations

import sys

# send(text): one datagram to NOTIFY_SOCKET
NOTIFY = """
import json, os, signal, socket, sys, time
def send(text):
    a = os.environ['NOTIFY_SOCKET']
    a = '\\0' + a[1:] if a[0] == '@' else a
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), a)
"""

# READY=1 with STATUS=<what it was passed, as JSON>, then waits for SIGTERM and exits 0
REPORT = (
    NOTIFY
    + """
n = int(os.environ['LISTEN_FDS'])
def describe(fd):
    s = socket.socket(fileno=fd)
    try:
        name = s.getsockname()
        name = name.decode('latin-1') if isinstance(name, bytes) else name
        return [fd, name, s.type == socket.SOCK_STREAM]
    finally:
        s.detach()
view = {
    'listen_pid_is_mine': os.environ['LISTEN_PID'] == str(os.getpid()),
    'names': os.environ['LISTEN_FDNAMES'],
    'fds': [describe(3 + i) for i in range(n)],
    'cwd': os.getcwd(),
    'extra': os.environ.get('EXTRA'),
}
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
send('READY=1\\nSTATUS=' + json.dumps(view))
time.sleep(60)
"""
)

# a tiny HTTP/1.0 server on fd 3: READY=1 once accepting; answers its pid. APP_MODE=500
# answers 500, APP_MODE=hangup closes without an answer, APP_MODE=shutdown-on-restart shuts
# the listening socket down (for everyone: the classic mistake) when started a second time
HTTP = (
    NOTIFY
    + """
import threading
mode = os.environ.get('APP_MODE', 'ok')
srv = socket.socket(fileno=3)
if mode == 'shutdown-on-restart':
    mark = os.environ['APP_MARK']
    if os.path.exists(mark):
        srv.shutdown(socket.SHUT_RDWR)
    open(mark, 'w').close()
stop = threading.Event()
def on_term(*a):
    stop.set()
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGHUP, lambda *a: None)
srv.settimeout(0.05)
send('READY=1\\nSTATUS=serving')
while not stop.is_set():
    try:
        conn, _ = srv.accept()
    except TimeoutError:
        continue
    with conn:
        conn.settimeout(5)
        data = b''
        while b'\\r\\n\\r\\n' not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        if mode == 'hangup':
            continue
        body = str(os.getpid()).encode()
        code = b'500 Oops' if mode == '500' else b'200 OK'
        head = b'HTTP/1.0 %s\\r\\nContent-Length: %d\\r\\n\\r\\n' % (code, len(body))
        conn.sendall(head + body)
send('STOPPING=1')
"""
)


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]
