"""Serve on resolved sockets with the server you already run.

One module per server, each importing its server only when it is imported itself (importing
``socket_activation`` never imports asyncio, uvicorn or hypercorn):

- :mod:`.asyncio`: ``start_servers`` / ``create_servers``, one ``asyncio.Server`` per
  listening stream socket (TCP and Unix), keeping each socket's backlog.
- :mod:`.uvicorn`: ``serve`` an ASGI app on the sockets, ``READY=1`` once it accepts.
- :mod:`.hypercorn`: ``serve`` an ASGI/WSGI app on the sockets, ``READY=1`` once it accepts.
- :mod:`.socketserver`: ``make_server`` wraps a resolved socket in a stdlib server class
  without binding or listening again.

gunicorn needs no helper: it reads ``LISTEN_FDS`` itself and skips ``listen()`` on inherited
sockets (README, "Recipes").
"""

from __future__ import annotations

__all__: list[str] = []
