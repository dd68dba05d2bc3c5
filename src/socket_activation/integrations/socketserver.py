"""stdlib ``socketserver`` (and ``http.server``, ``wsgiref``) on a resolved socket.

::

    resolution = socket_activation.resolve()
    servers = [make_server(s, Handler) for s in resolution.stream]
    # serve each in a thread: threading.Thread(target=server.serve_forever).start()

The socketserver classes create, bind and ``listen()`` their own socket in ``__init__``;
:func:`make_server` builds the server with ``bind_and_activate=False``, puts the resolved socket
in place of the one it created (closed at once), and fills in what ``server_bind`` would have
(``server_name``/``server_port`` for ``http.server``, the base environ for ``wsgiref``). The
server class is picked from the socket's kind unless given: a threading server for TCP, Unix
stream, UDP and Unix datagram sockets.

On-demand services: :func:`serve_until_idle` serves like ``serve_forever`` and returns once no
connection has been open or queued for S seconds (``STOPPING=1`` sent): exit 0 then.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import time

from .._resolve import ResolvedSocket
from ..net.sockinfo import describe_socket

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["make_server", "serve_until_idle"]

_SERVER_FOR_KIND: dict[str, type[socketserver.BaseServer]] = {
    "tcp": socketserver.ThreadingTCPServer,
    "unix-stream": socketserver.ThreadingUnixStreamServer,
    "udp": socketserver.ThreadingUDPServer,
    "unix-dgram": socketserver.ThreadingUnixDatagramServer,
}


def make_server(
    sock: ResolvedSocket | socket.socket,
    handler: Callable[..., Any],
    *,
    server_class: type[socketserver.BaseServer] | None = None,
) -> socketserver.BaseServer:
    """A socketserver server serving *handler* on *sock*, without bind() or listen().

    *server_class* must accept ``bind_and_activate=False`` (every ``TCPServer`` and
    ``UDPServer`` subclass does). ``server_close()`` closes the socket. Raises
    :class:`InheritedSocketError` for a socket kind no stdlib server serves (seqpacket, vsock).
    """
    raw = sock.socket if isinstance(sock, ResolvedSocket) else sock
    cls = server_class
    if cls is None:
        kind = describe_socket(raw).kind
        cls = _SERVER_FOR_KIND.get(kind)
        if cls is None:
            from .._errors import InheritedSocketError

            raise InheritedSocketError(
                f"fd {raw.fileno()} is {kind}; socketserver serves {', '.join(_SERVER_FOR_KIND)}",
                fd=raw.fileno(),
            )
    address = raw.getsockname()
    server: Any = cls(address, handler, bind_and_activate=False)  # type: ignore[call-arg]
    server.socket.close()
    server.socket = raw
    server.address_family = raw.family
    server.server_address = address
    if isinstance(address, tuple):  # what HTTPServer.server_bind sets, without a DNS lookup
        server.server_name, server.server_port = str(address[0]), int(address[1])
    else:
        server.server_name, server.server_port = "localhost", 0
    if callable(getattr(server, "setup_environ", None)):  # wsgiref's WSGIServer
        server.setup_environ()
    result: socketserver.BaseServer = server
    return result


def serve_until_idle(
    server: socketserver.BaseServer,
    exit_idle_time: float,
    *,
    notify: bool = True,
    inherited: bool | None = None,
) -> None:
    """Serve *server* (from :func:`make_server`) in this thread until no connection has been
    open or queued for *exit_idle_time* seconds, as the kernel sees it; then stop accepting,
    send ``STOPPING=1`` and return (``server_close()`` is the caller's: with a threading
    server it waits for the handlers).

    Accepts happen in this thread, between samples, so no connection is accepted after the
    sample that found the socket idle: the next one waits in the queue of the socket the
    service manager holds. Hence a :class:`ConfigError` for a socket it did not pass
    (*inherited* overrides the check against ``LISTEN_FDS``, e.g. for launchd).
    """
    from ._common import notify_stopping
    from ._idle import close_watch, require_inherited, watch

    sock: socket.socket = server.socket  # type: ignore[attr-defined]
    if inherited is None:
        require_inherited([sock.fileno()])
    elif not inherited:
        require_inherited([sock.fileno()], [])
    idle = watch([sock], exit_idle_time)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            while True:
                if selector.select(max(0.0, idle.next_sample - time.monotonic())):
                    server.handle_request()  # readable: accepts at once
                    server.service_actions()
                elif idle.due():
                    break
    finally:
        close_watch(idle)
    if notify:
        notify_stopping()
