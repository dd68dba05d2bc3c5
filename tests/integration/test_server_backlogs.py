"""In process: the newer helpers keep a socket's backlog (systemd's ``Backlog=``), where plain
aiohttp ``SockSite`` and waitress ``sockets=`` call ``listen()`` again with their defaults.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.integration.test_integrations import accept_queue_limit, resolution_of
from tests.integration.test_servers import require_packages

pytestmark = pytest.mark.integration


# -- backlogs, in process ----------------------------------------------------------------------


@pytest.fixture
def listener_37() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(37)
        sock.setblocking(False)
        yield sock


def _aiohttp_sites(sock: socket.socket, ours: bool) -> int:
    from aiohttp import web

    from socket_activation.integrations.aiohttp import start_sites

    async def main() -> int:
        runner = web.AppRunner(web.Application())
        await runner.setup()
        if ours:
            await start_sites(runner, resolution=resolution_of(sock))
        else:
            await web.SockSite(runner, sock).start()
        limit = accept_queue_limit(sock)
        await runner.cleanup()
        return limit

    return asyncio.run(main())


def _waitress_server(sock: socket.socket, ours: bool) -> int:
    from waitress import create_server  # type: ignore[import-untyped]

    from socket_activation.integrations.waitress import make_server
    from tests.integration.apps.wsgi_app import app

    server = (
        make_server(app, resolution=resolution_of(sock))
        if ours
        else create_server(app, sockets=[sock])
    )
    limit = accept_queue_limit(sock)
    server.task_dispatcher.shutdown()
    server.close()  # its trigger pipe, and the socket (the fixture's close is then a no-op)
    return limit


def _tornado_server(sock: socket.socket, ours: bool) -> int:
    from socket_activation.integrations.tornado import make_server

    async def main() -> int:
        server = make_server(lambda request: None, resolution=resolution_of(sock))
        limit = accept_queue_limit(sock)
        for handler in server._handlers.values():  # unregister without closing the socket
            handler()
        return limit

    return asyncio.run(main())


def _trio_listeners(sock: socket.socket, ours: bool) -> int:
    import trio

    from socket_activation.integrations.trio import open_listeners

    async def main() -> int:
        open_listeners(resolution=resolution_of(sock))
        return accept_queue_limit(sock)

    return trio.run(main)


def _anyio_listeners(sock: socket.socket, ours: bool) -> int:
    import anyio

    from socket_activation.integrations.anyio import open_listeners

    async def main() -> int:
        await open_listeners(resolution=resolution_of(sock))
        return accept_queue_limit(sock)

    return anyio.run(main)


BACKLOG_ROWS = [
    pytest.param(_aiohttp_sites, True, 37, ("aiohttp",), id="aiohttp-start_sites"),
    pytest.param(_aiohttp_sites, False, 128, ("aiohttp",), id="aiohttp-plain-SockSite-shrinks"),
    pytest.param(_waitress_server, True, 37, ("waitress",), id="waitress-make_server"),
    pytest.param(
        _waitress_server, False, 1024, ("waitress",), id="waitress-plain-sockets=-changes"
    ),
    pytest.param(_tornado_server, True, 37, ("tornado",), id="tornado-add_sockets"),
    pytest.param(_trio_listeners, True, 37, ("trio",), id="trio-open_listeners"),
    pytest.param(_anyio_listeners, True, 37, ("anyio",), id="anyio-open_listeners"),
]


@pytest.mark.parametrize(("build", "ours", "expected", "packages"), BACKLOG_ROWS)
def test_the_sockets_backlog_is_kept_where_the_plain_server_changes_it(
    build: Callable[[socket.socket, bool], int],
    ours: bool,
    expected: int,
    packages: tuple[str, ...],
    listener_37: socket.socket,
) -> None:
    """A socket listening with backlog 37 (systemd's Backlog=) still has 37 once the helper
    serves it; plain SockSite and waitress call listen() again with their own defaults."""
    require_packages(*packages)
    assert build(listener_37, ours) == expected
