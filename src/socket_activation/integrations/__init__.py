"""Serve on resolved sockets with the server you already run.

One module per server, each importing its server only when it is imported itself (importing
``socket_activation`` never imports a server):

- :mod:`.asyncio`: ``start_servers`` / ``create_servers``, one ``asyncio.Server`` per
  listening stream socket (TCP and Unix), keeping each socket's backlog.
- :mod:`.uvicorn`: ``serve`` an ASGI app on the sockets, ``READY=1`` once it accepts.
- :mod:`.hypercorn`: ``serve`` an ASGI/WSGI app on the sockets, ``READY=1`` once it accepts.
- :mod:`.socketserver`: ``make_server`` wraps a resolved socket in a stdlib server class
  without binding or listening again.
- :mod:`.aiohttp`: ``run``/``serve`` a ``web.Application``, one ``SockSite`` per socket.
- :mod:`.tornado`: ``run``/``serve``/``make_server``, ``HTTPServer.add_sockets``.
- :mod:`.waitress`: ``serve``/``make_server`` a WSGI app (``sockets=``), draining on SIGTERM.
- :mod:`.twisted`: ``run``/``listen`` a protocol factory (``adoptStreamPort``).
- :mod:`.daphne`: ``run``/``make_server`` an ASGI app on daphne, each socket adopted as it is.
- :mod:`.trio` and :mod:`.anyio`: ``serve`` a stream handler, ``open_listeners``.

Each sends ``READY=1`` once it accepts and ``STOPPING=1`` on the stop signal, and drains.

gunicorn needs no helper: it reads ``LISTEN_FDS`` itself and skips ``listen()`` on inherited
sockets (README, "Recipes").
"""

from __future__ import annotations

__all__: list[str] = []
