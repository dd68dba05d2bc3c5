"""The pytest plugin (entry point ``pytest11``): fixtures; nothing runs unless a test asks.

Importing this module costs little: the fixtures import the library when a test uses them.
One hook, ``pytest_runtest_makereport``, adds the stderr of a failed test's servers to its
report; for a test that started none it does nothing.

- ``activated_server``: a factory; ``activated_server(command, listen=[...])`` starts
  *command* on sockets the test bound, returning an :class:`ActivatedServer`. Every server it
  made is ended at teardown, pass or fail, with its sockets and files.
- ``notify_socket``: a :class:`NotifySocket`, set as ``NOTIFY_SOCKET`` for the test.
- ``systemd_activation_env``: a factory of ``with`` blocks in which this process is
  socket-activated (:func:`socket_activation.testing.environment.activate`).
- ``restart_under_load``: :func:`socket_activation.testing.restart_under_load`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from contextlib import ExitStack

    from .environment import Activation
    from .notify import NotifySocket
    from .server import ActivatedServer


# the servers a test started, for the report of a failed test
_SERVERS = pytest.StashKey[list["ActivatedServer"]]()


@pytest.fixture
def activated_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., ActivatedServer]]:
    """``activated_server(command, *, listen=None, names=None, config=None, unit=None,
    env=None, cwd=None, supervise=False, supervise_args=())``: start *command* on sockets
    bound here, with a private recording ``NOTIFY_SOCKET``; see :class:`ActivatedServer`.
    When the test fails, its report has a section with each server's stderr."""
    from .server import ActivatedServer

    made: list[ActivatedServer] = []
    request.node.stash[_SERVERS] = made

    def start(command: Any, **options: Any) -> ActivatedServer:
        server = ActivatedServer.start(command, **options)
        made.append(server)
        return server

    try:
        yield start
    finally:
        errors: list[BaseException] = []
        for server in reversed(made):
            try:
                server.close()
            except Exception as exc:  # end every other server before reporting
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.hookimpl(hookwrapper=True)  # the old style: any pytest >= 7 loads the plugin
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A failed test's report shows what its servers wrote to stderr (before teardown)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and report.when == "call":
        for server in item.stash.get(_SERVERS, []):
            text = server.stderr_tail
            if text:
                report.sections.append((f"activated_server {server.name} (stderr)", text))


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    """A manager's ``NOTIFY_SOCKET`` for code in this process: records every message and
    answers ``BARRIER=1`` as systemd does (closes the fd). ``NOTIFY_SOCKET`` is restored."""
    from .notify import NotifySocket

    with NotifySocket() as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
        yield sock


@pytest.fixture
def systemd_activation_env() -> Iterator[Callable[..., AbstractContextManager[Activation]]]:
    """``with systemd_activation_env(["127.0.0.1:0"], names=["web"]) as act:`` — inside the
    block this process has the sockets at fds 3.. and ``LISTEN_*`` naming them; everything
    is restored when the block ends (and at teardown, for a block left open)."""
    from contextlib import ExitStack

    from .environment import activate

    with ExitStack() as stack:

        def enter(*args: Any, **kwargs: Any) -> AbstractContextManager[Activation]:
            return _Tracked(activate(*args, **kwargs), stack)

        yield enter


@pytest.fixture
def restart_under_load() -> Callable[..., Any]:
    """:func:`socket_activation.testing.restart_under_load`, no import needed."""
    from .load import restart_under_load as measure

    return measure


class _Tracked(AbstractContextManager["Activation"]):
    """*inner* entered by the test's ``with``; if the test leaves without exiting it (a
    generator abandoned, say), teardown exits it through *stack*."""

    def __init__(self, inner: AbstractContextManager[Activation], stack: ExitStack) -> None:
        self._inner = inner
        self._stack = stack

    def __enter__(self) -> Activation:
        value = self._inner.__enter__()
        self._left_open = True
        self._stack.callback(self._teardown)
        return value

    def __exit__(self, *exc: Any) -> bool | None:
        self._left_open = False
        return self._inner.__exit__(*exc)

    def _teardown(self) -> None:
        if getattr(self, "_left_open", False):
            self.__exit__(None, None, None)


__all__ = ["activated_server", "notify_socket", "restart_under_load", "systemd_activation_env"]
