"""The launchd binding against a real C stand-in for ``launch_activate_socket`` (SPEC N).

The stand-in (tests/support/launchd_stub.c) is built here with the system compiler and loaded
through the binding's seam (``library=``, ``SOCKET_ACTIVATION_LAUNCHD_LIBRARY``). It hands back
real sockets (dup'd) in a real malloc'd array, returns each errno on demand, answers EALREADY
to a second ask as launchd does, and counts every malloc and free of its arrays.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socket_activation._errors import ConfigError, LaunchdError, SocketActivationError
from socket_activation.launchd import activation as _launchd
from socket_activation.launchd.activation import (
    LAUNCHD_LIBRARY_VARIABLE,
    LaunchdActivation,
    launch_activate_socket,
    launchd_activation,
)
from tests.conftest import require_tool
from tests.support.launchd_stub import Stub, build_stub

OFF_MACOS = pytest.mark.skipif(sys.platform == "darwin", reason="libSystem is there on macOS")
ON_MACOS = pytest.mark.skipif(sys.platform != "darwin", reason="needs macOS (libSystem)")


@pytest.fixture(scope="session")
def stub_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in, compiled once per session."""
    compiler = require_tool("gcc")
    return build_stub(compiler, tmp_path_factory.mktemp("launchd-stub"))


@pytest.fixture
def stub(stub_library: Path) -> Iterator[Stub]:
    """The stand-in with no answers, zeroed counters and an empty binding cache."""
    loaded = Stub(stub_library)
    loaded.configure("")
    _launchd._reset_cache()
    yield loaded
    _launchd._reset_cache()


@pytest.fixture
def received() -> Iterator[list[int]]:
    """Fds handed back by the binding, closed at the end of the test (they are ours)."""
    fds: list[int] = []
    yield fds
    for fd in set(fds):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.fixture
def tcp_listener() -> Iterator[Callable[[int], socket.socket]]:
    """Make listening TCP sockets on loopback port 0 (AF_INET or AF_INET6), closed after."""
    made: list[socket.socket] = []

    def make(family: int = socket.AF_INET) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        made.append(sock)
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        sock.listen()
        return sock

    yield make
    for sock in made:
        sock.close()


def ask(stub: Stub, received: list[int], *names: str) -> LaunchdActivation:
    activation = launchd_activation(names, library=stub.path)
    received.extend(fd for _, fd, _ in activation.sockets)
    return activation


def test_one_name_one_fd_gives_the_socket_described(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """A name with one socket gives one new fd, of the socket's real family, type and address."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"web={sock.fileno()}")
    activation = ask(stub, received, "web")
    assert activation.activated
    assert activation.source == "launchd"
    assert activation.notes == ()
    [(name, fd, info)] = activation.sockets
    assert name == "web"
    assert fd != sock.fileno()  # launchd's own fd, not the one it was made from
    assert (info.family, info.type, info.kind) == (socket.AF_INET, socket.SOCK_STREAM, "tcp")
    assert info.address == f"127.0.0.1:{sock.getsockname()[1]}"
    assert info.listening


def test_one_name_two_fds_ipv4_and_ipv6_all_returned_in_order(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """A name without SockFamily gives one fd per family: both are returned, in launchd's order."""
    v4, v6 = tcp_listener(socket.AF_INET), tcp_listener(socket.AF_INET6)
    stub.configure(f"web={v4.fileno()},{v6.fileno()}")
    activation = ask(stub, received, "web")
    assert [(name, info.family) for name, _, info in activation.sockets] == [
        ("web", socket.AF_INET),
        ("web", socket.AF_INET6),
    ]
    assert activation.sockets[1][2].address == f"[::1]:{v6.getsockname()[1]}"
    assert stub.allocs == stub.frees == 1


def test_returned_fd_accepts_a_loopback_connection(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """The fd handed back is the listening socket itself: a client connecting is accepted on it."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"web={sock.fileno()}")
    [fd] = launch_activate_socket("web", library=stub.path)
    received.append(fd)
    served = socket.socket(fileno=os.dup(fd))
    with served, socket.create_connection(sock.getsockname(), timeout=5) as client:
        served.settimeout(5)
        conn, _ = served.accept()
        with conn:
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"


def test_returned_fds_are_close_on_exec(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """launchd's fds arrive inheritable; the binding marks each close-on-exec."""
    v4, v6 = tcp_listener(socket.AF_INET), tcp_listener(socket.AF_INET6)
    passed = [os.dup(v4.fileno()), os.dup(v6.fileno())]
    received.extend(passed)
    for fd in passed:
        os.set_inheritable(fd, True)
    stub.configure(f"web=@{passed[0]},@{passed[1]}")  # handed back as is
    fds = launch_activate_socket("web", library=stub.path)
    assert fds == passed
    assert [os.get_inheritable(fd) for fd in fds] == [False, False]


def test_several_names_are_asked_in_order_and_a_missing_one_is_noted(
    stub: Stub,
    received: list[int],
    tcp_listener: Callable[[int], socket.socket],
) -> None:
    """Names are asked in the order given; each socket keeps its name; a missing one is a note."""
    web = tcp_listener(socket.AF_INET)
    short = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))  # macOS tmp_path is too long
    path = str(short / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(path)
        unix.listen()
        stub.configure(f"unix={unix.fileno()};web={web.fileno()}")
        activation = ask(stub, received, "web", "metrics", "unix")
    assert [(name, info.kind) for name, _, info in activation.sockets] == [
        ("web", "tcp"),
        ("unix", "unix-stream"),
    ]
    shutil.rmtree(short)
    assert activation.named("unix")[0][2].address == path
    assert activation.notes == (
        "launchd socket 'metrics': not activated: no socket of that name in the job's "
        "Sockets (ENOENT)",
    )


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param(f"web=!{errno.ENOENT}", "(ENOENT)", id="ENOENT-no-such-socket"),
        pytest.param(f"web=!{errno.ESRCH}", "(ESRCH)", id="ESRCH-not-a-launchd-job"),
        pytest.param("other=1", "(ENOENT)", id="name-not-in-the-plist"),
        pytest.param(f"*=!{errno.ESRCH}", "(ESRCH)", id="ESRCH-for-every-name"),
    ],
)
def test_enoent_and_esrch_mean_not_activated(
    stub: Stub, received: list[int], spec: str, reason: str
) -> None:
    """ENOENT and ESRCH (R98) are "not activated": no sockets, a note naming the socket and why."""
    stub.configure(spec)
    activation = ask(stub, received, "web")
    assert not activation.activated
    assert activation.source == ""
    [note] = activation.notes
    assert note.startswith("launchd socket 'web': not activated: ")
    assert note.endswith(reason)
    assert launch_activate_socket("web", library=stub.path) == []


@pytest.mark.parametrize(
    "err",
    [
        pytest.param(errno.EPERM, id="EPERM"),
        pytest.param(errno.EINVAL, id="EINVAL"),
        pytest.param(errno.EACCES, id="EACCES"),
        pytest.param(errno.ENOMEM, id="ENOMEM"),
    ],
)
def test_any_other_errno_raises_launchd_error_naming_the_socket(stub: Stub, err: int) -> None:
    """Other return values raise LaunchdError (an OSError) with that errno and the socket name."""
    stub.configure(f"web=!{err}")
    with pytest.raises(LaunchdError) as caught:
        launchd_activation(["web"], library=stub.path)
    assert caught.value.errno == err
    assert isinstance(caught.value, OSError)
    assert isinstance(caught.value, SocketActivationError)
    assert "launch_activate_socket('web') failed" in str(caught.value)
    assert os.strerror(err) in str(caught.value)


def test_the_return_value_is_the_error_not_errno(stub: Stub) -> None:
    """The error comes from the return value: a stale errno in the thread is not consulted."""
    stub.configure(f"web=!{errno.EPERM}")
    import ctypes

    ctypes.set_errno(errno.ESRCH)  # would read as "not activated" if errno were used
    with pytest.raises(LaunchdError) as caught:
        launch_activate_socket("web", library=stub.path)
    assert caught.value.errno == errno.EPERM


def test_ealready_is_answered_from_the_first_answer(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """Asking twice: launchd says EALREADY, and the binding gives the fds of the first answer."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"web={sock.fileno()}")
    first = ask(stub, received, "web")
    second = ask(stub, received, "web")
    again = launch_activate_socket("web", library=stub.path)
    assert stub.calls == 3  # launchd really was asked, and answered EALREADY twice
    assert second == first
    assert again == [fd for _, fd, _ in first.sockets]
    assert second.notes == ()


def test_ealready_without_a_first_answer_here_raises(stub: Stub) -> None:
    """EALREADY when this process never got the fds (other code asked) is an error that says so."""
    stub.configure(f"web=!{errno.EALREADY}")
    with pytest.raises(LaunchdError, match="already activated in this process by other code"):
        launch_activate_socket("web", library=stub.path)


def test_concurrent_askers_both_get_the_fds(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """Two threads asking at once both get the same fds, never an EALREADY error."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"web={sock.fileno()}")
    results: list[list[int] | BaseException] = []

    def worker() -> None:
        try:
            results.append(launch_activate_socket("web", library=stub.path))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8
    assert all(r == results[0] for r in results), results
    assert isinstance(results[0], list)
    received.extend(results[0])


def _closed_fd() -> int:
    """An fd number that is not open, and high enough that no dup() in the test reuses it."""
    for fd in range(4000, 5000):
        try:
            os.fstat(fd)
        except OSError:
            return fd
    raise AssertionError("no free fd number in 4000..4999")


@pytest.mark.parametrize(
    ("spec", "raises"),
    [
        pytest.param("web={sock}", None, id="success"),
        pytest.param("web={sock},{sock}", None, id="success-two-fds"),
        pytest.param("web=", None, id="success-no-fds-no-array"),
        pytest.param("web=@{closed},{sock}", None, id="partial-first-fd-not-open"),
        pytest.param(f"web=!{errno.ENOENT}", None, id="ENOENT"),
        pytest.param(f"web=!{errno.ESRCH}+array", None, id="ESRCH-with-an-array"),
        pytest.param(f"web=!{errno.EPERM}+array", LaunchdError, id="EPERM-with-an-array"),
        pytest.param(f"web=!{errno.EALREADY}", LaunchdError, id="EALREADY-not-cached"),
    ],
)
def test_the_array_is_freed_exactly_once_per_call_on_every_path(
    stub: Stub,
    received: list[int],
    tcp_listener: Callable[[int], socket.socket],
    spec: str,
    raises: type[Exception] | None,
) -> None:
    """Every array launch_activate_socket stores is given to free() once: errors, partial
    answers and EALREADY included; free() is never called on anything else."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(spec.format(sock=sock.fileno(), closed=_closed_fd()))
    for _ in range(4):  # the first ask and three EALREADY (or repeated error) answers
        if raises is None:
            ask(stub, received, "web")
        else:
            with pytest.raises(raises):
                ask(stub, received, "web")
    assert stub.calls == 4
    assert stub.frees == stub.allocs
    assert (stub.live, stub.bad_frees) == (0, 0)


def test_array_counts_for_a_success_then_ealready(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """One array is stored (first answer) and freed once; the EALREADY answers store none."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"web={sock.fileno()}")
    for _ in range(3):
        ask(stub, received, "web")
    assert (stub.calls, stub.allocs, stub.frees, stub.bad_frees) == (3, 1, 1, 0)


@pytest.mark.parametrize(
    ("make", "described"),
    [
        pytest.param("closed", "not open", id="closed-fd"),
        pytest.param("pipe", "a pipe or FIFO", id="pipe"),
    ],
)
def test_an_fd_that_is_not_a_socket_is_skipped_with_a_note(
    stub: Stub,
    received: list[int],
    tcp_listener: Callable[[int], socket.socket],
    make: str,
    described: str,
) -> None:
    """A fd launchd passed that is closed or not a socket is left out, with a note; the other
    fds of the name are still served and the array is still freed."""
    sock = tcp_listener(socket.AF_INET)
    if make == "pipe":
        odd, w = os.pipe()
        os.close(w)
        received.append(odd)
    else:
        odd = _closed_fd()
    stub.configure(f"web=@{odd},{sock.fileno()}")
    activation = ask(stub, received, "web")
    assert [info.kind for _, _, info in activation.sockets] == ["tcp"]
    assert activation.notes == (f"launchd socket 'web': fd {odd} is {described}; ignored",)
    assert (stub.allocs, stub.frees) == (1, 1)


def test_success_with_no_fds_is_noted(stub: Stub, received: list[int]) -> None:
    """A success that carries no fds activates nothing and says so."""
    stub.configure("web=")
    activation = ask(stub, received, "web")
    assert activation.sockets == ()
    assert activation.notes == ("launchd socket 'web': launchd passed no fds",)


def test_the_name_is_passed_as_utf8_bytes(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """The socket name reaches C as its UTF-8 bytes."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"wéb-ü={sock.fileno()}")
    activation = ask(stub, received, "wéb-ü")
    assert stub.last_name == "wéb-ü".encode()
    assert [name for name, _, _ in activation.sockets] == ["wéb-ü"]


def test_a_name_with_nul_is_refused_before_asking(stub: Stub) -> None:
    """A name with an embedded NUL would be cut short in C: refused, launchd not asked."""
    with pytest.raises(ConfigError, match=r"cannot contain NUL, got 'we\\x00b'"):
        launchd_activation(["we\0b"], library=stub.path)
    assert stub.calls == 0


def test_the_library_can_be_named_by_the_environment(
    stub: Stub, received: list[int], tcp_listener: Callable[[int], socket.socket]
) -> None:
    """SOCKET_ACTIVATION_LAUNCHD_LIBRARY (in the environ given) selects the library."""
    sock = tcp_listener(socket.AF_INET)
    stub.configure(f"web={sock.fileno()}")
    activation = launchd_activation(["web"], environ={LAUNCHD_LIBRARY_VARIABLE: str(stub.path)})
    received.extend(fd for _, fd, _ in activation.sockets)
    assert activation.activated
    assert stub.calls == 1


@OFF_MACOS
@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="no-seam"),
        pytest.param({LAUNCHD_LIBRARY_VARIABLE: ""}, id="empty-seam"),
    ],
)
def test_off_macos_without_the_seam_is_not_activated(environ: dict[str, str]) -> None:
    """Off macOS, with no library named, launchd is "not activated", silently.

    Nothing was asked, so there is nothing to explain: `inspect` on Linux stays free of
    launchd notes.
    """
    activation = launchd_activation(["web", "unix"], environ=environ)
    assert activation == LaunchdActivation(("web", "unix"), (), ())
    assert launch_activate_socket("web", environ=environ) == []


@OFF_MACOS
def test_off_macos_asking_loads_no_ctypes() -> None:
    """Importing the module and asking off macOS loads no ctypes (the start-up path stays cheap)."""
    code = (
        "import sys\n"
        "from socket_activation.launchd.activation import launchd_activation\n"
        "assert not launchd_activation(['Listeners']).activated\n"
        "print('ctypes' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != LAUNCHD_LIBRARY_VARIABLE}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    assert out.stdout.strip() == "False"


@ON_MACOS
def test_on_macos_a_process_not_started_by_launchd_is_not_activated() -> None:
    """The real libSystem, asked by a process launchd did not start: ESRCH, not activated."""
    activation = launchd_activation(["web"], environ={})
    assert not activation.activated
    [note] = activation.notes
    assert note.startswith("launchd socket 'web': not activated: "), note


def test_a_library_that_cannot_be_loaded_raises_naming_it(tmp_path: Path) -> None:
    """A named library that does not exist raises LaunchdError(ENOENT) with its path."""
    missing = tmp_path / "nope.so"
    with pytest.raises(LaunchdError, match="cannot load the launchd library") as caught:
        launchd_activation(["web"], library=missing)
    assert caught.value.errno == errno.ENOENT
    assert str(missing) in str(caught.value)


@OFF_MACOS  # there dlsym also searches the library's dependencies, and libSystem has it
def test_a_library_without_the_function_raises(tmp_path: Path) -> None:
    """A library that does not export launch_activate_socket raises LaunchdError(ENOSYS)."""
    compiler = require_tool("gcc")
    source = tmp_path / "empty.c"
    source.write_text("int nothing_here(void) { return 0; }\n")
    lib = tmp_path / "empty.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(lib), str(source)], check=True, timeout=60
    )
    with pytest.raises(LaunchdError, match="has no launch_activate_socket") as caught:
        launchd_activation(["web"], library=lib)
    assert caught.value.errno == errno.ENOSYS


def test_a_child_process_reads_the_stub_answers_from_its_environment(
    stub_library: Path, tcp_listener: Callable[[int], socket.socket]
) -> None:
    """The stand-in also works in a child (LAUNCHD_STUB_SPEC), for end-to-end tests."""
    sock = tcp_listener(socket.AF_INET)
    code = (
        "import json\n"
        "from socket_activation.launchd.activation import launchd_activation\n"
        "a = launchd_activation(['web'])\n"
        "print(json.dumps([(n, i.kind, i.address) for n, _, i in a.sockets]))"
    )
    env = {
        **os.environ,
        LAUNCHD_LIBRARY_VARIABLE: str(stub_library),
        "LAUNCHD_STUB_SPEC": f"web={sock.fileno()}",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        pass_fds=[sock.fileno()],
        timeout=60,
    )
    address = f"127.0.0.1:{sock.getsockname()[1]}"
    assert json.loads(out.stdout) == [["web", "tcp", address]]
