"""Adopt the Unix socket at fd 3 with Twisted's own port or ours, stop it, report what is left.

``python twisted_unix_probe.py twisted|ours`` under ``socket-activation exec -l PATH``: the file
is set to mode 0600 first; prints JSON with the file's mode after adoption, whether it still
exists after ``stopListening()``, and whether the socket (fd 3 is still open here) still
takes a connection, through a hard link to the file made beforehand.
"""

from __future__ import annotations

import json
import os
import socket
import sys

if sys.argv[1] == "ours":
    from socket_activation.integrations.twisted import listen

from typing import Any

from twisted.internet import protocol
from twisted.internet import reactor as installed

reactor: Any = installed

sock = socket.socket(fileno=3)
path = sock.getsockname()
os.chmod(path, 0o600)
os.link(path, path + ".link")  # the same socket, reachable after the path is unlinked
factory = protocol.Factory()
if sys.argv[1] == "ours":
    (port,) = listen(factory)
else:
    port = reactor.adoptStreamPort(3, socket.AF_UNIX, factory)
mode = os.stat(path).st_mode & 0o777
port.stopListening()
reactor.callLater(0.3, reactor.stop)
reactor.run()
with socket.socket(socket.AF_UNIX) as client:
    try:
        client.connect(path + ".link")
        connect = "ok"
    except ConnectionRefusedError:
        connect = "refused"
os.unlink(path + ".link")
print(json.dumps({"mode": oct(mode), "exists": os.path.exists(path), "connect": connect}))
