"""socket_activation.daemon has python-systemd's systemd.daemon API: names, signatures, errors.

The oracle is python-systemd itself (libsystemd 252 through its C binding): signatures are
compared with its Python functions' and with its C functions' docstrings, and bad arguments
must raise the same exception types. Behaviour is compared in test_fdkind.py (sd_is_*),
test_daemon_notify.py, test_daemon_listen.py and test_daemon_sockaddr.py, and python-systemd's
own test file runs against ours in test_daemon_peer.py.
"""

from __future__ import annotations

import inspect
import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from socket_activation import daemon as ours
from tests.support.oracle import systemd_daemon
from tests.support.paths import ROOT

PUBLIC = (
    "LISTEN_FDS_START",
    "booted",
    "is_fifo",
    "is_mq",
    "is_socket",
    "is_socket_inet",
    "is_socket_sockaddr",
    "is_socket_unix",
    "listen_fds",
    "listen_fds_with_names",
    "notify",
)
# implemented in C in the binding: their signatures live in the first docstring line
C_FUNCTIONS = (
    "booted",
    "notify",
    "_listen_fds",
    "_listen_fds_with_names",
    "_is_fifo",
    "_is_mq",
    "_is_socket",
    "_is_socket_inet",
    "_is_socket_sockaddr",
    "_is_socket_unix",
)


@pytest.fixture(scope="module")
def real() -> ModuleType:
    return systemd_daemon()


def parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_every_public_name_is_there(real: ModuleType) -> None:
    """The names a `from systemd.daemon import ...` can ask for, and ours in __all__."""
    theirs = {name for name in vars(real) if not name.startswith("_")} - {"LISTEN_FDS_START"}
    assert theirs | {"LISTEN_FDS_START"} == set(PUBLIC)
    assert sorted(ours.__all__) == sorted(PUBLIC)
    assert ours.LISTEN_FDS_START == real.LISTEN_FDS_START == 3
    for name in C_FUNCTIONS:
        assert callable(getattr(ours, name))


@pytest.mark.parametrize(
    "name",
    [
        *("is_fifo", "is_mq", "is_socket", "is_socket_inet", "is_socket_sockaddr"),
        *("is_socket_unix", "listen_fds", "listen_fds_with_names"),
    ],
)
def test_python_level_signatures_match(real: ModuleType, name: str) -> None:
    """Same parameter names, kinds and defaults (AF_UNSPEC as the enum) as the binding's."""
    assert parameters(getattr(ours, name)) == parameters(getattr(real, name))


@pytest.mark.parametrize("name", C_FUNCTIONS)
def test_c_level_signatures_match_their_docstrings(real: ModuleType, name: str) -> None:
    """The binding's C functions document `name(args) -> type`: same parameter names."""
    first = (getattr(real, name).__doc__ or "").splitlines()[0]
    match = re.fullmatch(rf"{name}\((.*)\) -> .*", first)
    assert match, first
    documented = [arg.split("=")[0].strip() for arg in match.group(1).split(",") if arg.strip()]
    assert [p[0] for p in parameters(getattr(ours, name))] == documented


POSITIONAL_ONLY = ("_is_fifo", "_is_mq", "_is_socket", "_is_socket_inet")


@pytest.mark.parametrize("name", [*POSITIONAL_ONLY, "_is_socket_sockaddr", "_is_socket_unix"])
def test_private_helpers_take_positional_arguments_only(real: ModuleType, name: str) -> None:
    """METH_VARARGS in C: a keyword argument is a TypeError in both."""
    for module in (real, ours):
        with pytest.raises(TypeError):
            getattr(module, name)(fd=0)


BAD_ARGUMENTS: list[Any] = [
    pytest.param("is_fifo", (1.5,), id="fd-float"),
    pytest.param("is_fifo", ("3",), id="fd-str"),
    pytest.param("is_fifo", (2**31,), id="fd-overflow"),
    pytest.param("is_fifo", (-(2**31) - 1,), id="fd-underflow"),
    pytest.param("is_fifo", (0, "a\0b"), id="path-nul"),
    pytest.param("is_fifo", (0, 5), id="path-int"),
    pytest.param("is_fifo", (0, bytearray(b"/x")), id="path-bytearray"),
    pytest.param("is_socket", (0, 1.0), id="family-float"),
    pytest.param("is_socket", (0, 0, 0, 0, 0), id="too-many"),
    pytest.param("is_socket_inet", (0, 0, 0, -1, 65536), id="port-too-big"),
    pytest.param("is_socket_inet", (0, 0, 0, -1, -1), id="port-negative"),
    pytest.param("is_socket_sockaddr", (0, b"127.0.0.1"), id="address-bytes"),
    pytest.param("is_socket_sockaddr", (0, "127.0.0.1\0"), id="address-nul"),
    pytest.param("is_socket_sockaddr", (0, "\udcff"), id="address-surrogate"),
    pytest.param("is_socket_sockaddr", (0, "nonsense"), id="address-unparsable"),
    pytest.param("is_socket_sockaddr", (0, "127.0.0.1", 0, 1), id="flowinfo-ipv4"),
    pytest.param("is_socket_unix", (0, 0, -1, "\0abstract"), id="unix-abstract-nul"),
    pytest.param("listen_fds", (1, 2), id="listen-too-many"),
    pytest.param("booted", (1,), id="booted-argument"),
    pytest.param("notify", (), id="notify-no-status"),
]


@pytest.mark.parametrize(("name", "args"), BAD_ARGUMENTS)
def test_bad_arguments_raise_what_the_binding_raises(
    real: ModuleType, name: str, args: tuple[Any, ...]
) -> None:
    """TypeError, OverflowError, ValueError, UnicodeEncodeError: the C argument rules."""
    raised = []
    for module in (real, ours):
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is what is compared
            getattr(module, name)(*args)
        raised.append(type(info.value))
    assert raised[1] is raised[0]


def test_an_object_with_fileno_is_accepted_where_the_binding_accepts_it(
    real: ModuleType,
) -> None:
    """is_*() take objects with fileno(); notify(fds=) takes ints only, in both."""
    sock = socket.socket()
    try:
        assert ours.is_socket(sock) is real.is_socket(sock) is True
        for module in (real, ours):
            with pytest.raises(TypeError):
                module.notify("READY=1", fds=[sock])
    finally:
        sock.close()


def test_notify_fds_none_means_no_fds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliberately lenient: the binding raises TypeError for an explicit fds=None."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert ours.notify("READY=1", fds=None) is False


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_socket_activation_does_not_load_the_drop_in() -> None:
    """The drop-in is imported by name only; the package import stays as light as it was."""
    assert "socket_activation.daemon" not in loaded_after("import socket_activation")


def test_the_drop_in_loads_nothing_heavy() -> None:
    """No pydantic, asyncio or ctypes (is_mq loads ctypes on its first call)."""
    after = loaded_after("from socket_activation import daemon\ndaemon.listen_fds()")
    assert not {"pydantic", "asyncio", "ctypes", "typing"} & after


def test_the_fallback_import_works_without_python_systemd() -> None:
    """The README's try/except: with systemd unimportable, the name resolves to ours."""
    code = (
        "import sys\n"
        "sys.modules['systemd'] = None  # as in a slim container without the binding\n"
        "try:\n"
        "    from systemd import daemon\n"
        "except ImportError:\n"
        "    from socket_activation import daemon\n"
        "assert daemon.__name__ == 'socket_activation.daemon'\n"
        "assert daemon.listen_fds() == [] and daemon.notify('READY=1') is False\n"
    )
    loaded_after(code)
