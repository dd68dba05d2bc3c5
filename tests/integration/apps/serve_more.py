"""Serve a pid-answering app on the resolved sockets with one of the newer integrations.

``python serve_more.py SERVER`` with SERVER one of aiohttp, tornado, jupyter-style, waitress,
twisted, daphne, trio, anyio-asyncio, anyio-trio; or a recipe: django-asgi (daphne),
django-wsgi and flask (waitress). Every server answers ``/`` with its pid;
the sockets come from ``socket_activation.resolve()``; each integration sends READY=1 once
serving and drains on SIGTERM.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from typing import Any

from tests.integration.apps.asgi_app import app as asgi_app
from tests.integration.apps.wsgi_app import app as wsgi_app

PID = str(os.getpid()).encode()
RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
    len(PID),
    PID,
)


def serve_aiohttp() -> None:
    from aiohttp import web

    from socket_activation.integrations.aiohttp import run

    async def pid(request: web.Request) -> web.Response:
        return web.Response(body=PID)

    app = web.Application()
    app.router.add_get("/", pid)
    run(app)


def serve_tornado(jupyter_style: bool) -> None:
    import tornado.web

    from socket_activation.integrations.tornado import run

    class PidHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(PID)

    if not jupyter_style:
        run(tornado.web.Application([(r"/", PidHandler)]))
        return

    class ServerWebApplication(tornado.web.Application):
        """Shaped like jupyter_server's: a subclass with settings, handlers and base_url."""

        def __init__(self, base_url: str) -> None:
            settings: dict[str, Any] = {"base_url": base_url, "xsrf_cookies": True}
            handlers = [(base_url, PidHandler), (base_url + r"api/status", PidHandler)]
            super().__init__(handlers, **settings)

    run(ServerWebApplication("/"), xheaders=True)


def serve_waitress() -> None:
    from socket_activation.integrations.waitress import serve

    serve(wsgi_app, threads=4)


def serve_twisted() -> None:
    from twisted.web import resource, server

    from socket_activation.integrations.twisted import run

    class Pid(resource.Resource):
        isLeaf = True  # noqa: N815 - Twisted's name

        def render_GET(self, request: Any) -> bytes:  # noqa: N802 - Twisted's name
            return PID

    run(server.Site(Pid()))  # type: ignore[no-untyped-call]


def serve_daphne() -> None:
    from socket_activation.integrations.daphne import run

    run(asgi_app)


async def answer_anyio(stream: Any) -> None:
    from anyio import EndOfStream

    async with stream:
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                head += await stream.receive()
        except EndOfStream:
            return
        await stream.send(RESPONSE)


async def answer_trio(stream: Any) -> None:
    async with stream:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            head += chunk
        await stream.send_all(RESPONSE)


def main() -> None:
    faulthandler.register(signal.SIGUSR2)  # a stack dump on demand, to debug a stuck drain
    which = sys.argv[1]
    if which == "aiohttp":
        serve_aiohttp()
    elif which in ("tornado", "jupyter-style"):
        serve_tornado(which == "jupyter-style")
    elif which == "waitress":
        serve_waitress()
    elif which == "twisted":
        serve_twisted()
    elif which == "daphne":
        serve_daphne()
    elif which == "trio":
        import trio

        from socket_activation.integrations.trio import serve

        trio.run(serve, answer_trio)
    elif which == "django-asgi":  # Django's ASGI app through the daphne helper
        from socket_activation.integrations.daphne import run as run_daphne
        from tests.integration.apps.django_site import asgi

        run_daphne(asgi)
    elif which in ("django-wsgi", "flask"):  # WSGI apps through the waitress helper
        from socket_activation.integrations.waitress import serve as serve_wsgi

        if which == "flask":
            from tests.integration.apps.flask_app import app as flask_app

            serve_wsgi(flask_app, threads=4)
        else:
            from tests.integration.apps.django_site import wsgi

            serve_wsgi(wsgi, threads=4)
    elif which.startswith("anyio-"):
        import anyio

        from socket_activation.integrations.anyio import serve as serve_anyio

        anyio.run(serve_anyio, answer_anyio, backend=which.removeprefix("anyio-"))
    else:
        raise SystemExit(f"unknown server {which!r}")


if __name__ == "__main__":
    main()
