"""A real systemd user manager for tests, sandboxed so it cannot touch the rest of the machine.

PID 1 on the development and CI machines is not systemd, so ``systemd --user`` refuses to run
as-is. It does run inside private namespaces (the recipe of SYSTEMD-SANDBOX.md):

1. a sub-cgroup ``sdum-<pytest pid>-<random>`` is created in every hierarchy systemd uses
   (hybrid: ``/sys/fs/cgroup/{systemd,unified}/<tag>``; pure v2: ``/sys/fs/cgroup/<tag>``), and a
   shell moves itself into it;
2. the shell execs ``setpriv --pdeathsig KILL unshare --mount --pid --cgroup --kill-child``: the
   manager's world is a new mount, PID and cgroup namespace whose cgroup root is that sub-cgroup.
   If pytest dies, the kernel kills ``unshare``, which kills the namespace's init, which takes
   every process of the PID namespace with it;
3. inside, ``/run/systemd`` and ``/sys/fs/cgroup`` get private mounts (the manager sees its
   sub-cgroup as the root; the script refuses to go on if it could see the host's root), a
   fresh ``/proc`` shows only the namespace's processes, and ``/lib/systemd/systemd --user``
   starts with ``XDG_RUNTIME_DIR``/``XDG_CONFIG_HOME``/``XDG_DATA_HOME`` under a temp dir.

**Never start a user manager without those namespaces**: in the root cgroup it creates
``init.scope`` and moves every process of the machine, PID 1 included, into it.

Commands reach the manager through ``nsenter --target <namespace init> --mount --pid``: from
outside the PID namespace, the manager's private bus (``$XDG_RUNTIME_DIR/systemd/private``)
rejects the connection because the peer's PID does not exist in its namespace (measured:
``Transport endpoint is not connected``). The network namespace is shared, so sockets the units
bind on 127.0.0.1 are reachable from the test process directly, and files services write under
a temp dir are visible outside. PIDs that the manager reports (``MainPID``, ``LISTEN_PID``) are
namespace PIDs; :meth:`UserManager.host_pid` translates them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "MANAGER_BINARY",
    "ManagerStartError",
    "UnitVerifyError",
    "UserManager",
    "cgroup_roots",
    "exec_quote",
    "leftover_cgroups",
    "parse_listen",
    "parse_show",
    "sandbox_unavailable_reason",
    "sweep_dead_sandboxes",
]

MANAGER_BINARY = Path("/lib/systemd/systemd")
CGROUP_FS = Path("/sys/fs/cgroup")
# each sandbox keeps its units, runtime dir and log in STATE_PARENT/<tag>
STATE_PARENT = Path("/tmp")
# every sandbox cgroup is named sdum-<pid of the test process>-<random>, so a sweep can tell
# leftovers of dead test runs from the cgroups of a run still going on in parallel
TAG_PREFIX = "sdum-"
_TAG_RE = re.compile(r"^sdum-(\d+)-[0-9a-f]+$")

# how long the manager may take to create its private socket and finish start-up (measured
# ~0.15 s here; generous for a loaded 2-core CI machine)
START_TIMEOUT = 15.0
# `systemctl --user exit` normally ends the manager in well under a second
STOP_TIMEOUT = 10.0
# empty cgroups of a namespace that just died can stay busy for a moment
CGROUP_REMOVE_TIMEOUT = 5.0

# Runs outside the namespaces: joins the sub-cgroups, then execs into them. $$ is this shell,
# so the test process itself never changes cgroup. pdeathsig: if the test process dies,
# unshare is killed, and --kill-child then kills the namespace's init.
_ENTER = r"""
set -eu
inner=$1; shift
while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done
shift
exec setpriv --pdeathsig KILL -- \
  unshare --mount --propagation private --pid --cgroup --kill-child -- \
  /bin/sh -c "$inner" sdum-inner "$@"
"""

# Runs inside the namespaces as their PID 1. Aborts (set -e) before starting the manager if any
# mount fails or if the cgroup tree it sees still contains our tag, i.e. is the host's root.
_INNER = r"""
set -eu
tag=$SDUM_TAG
unset SDUM_TAG
mount -t tmpfs -o mode=755 sdum-run /run/systemd
mkdir /run/systemd/system
if [ -d /sys/fs/cgroup/systemd ]; then
  mount -t tmpfs -o mode=755 sdum-cgroup /sys/fs/cgroup
  mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
  mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
  mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
  test ! -e "/sys/fs/cgroup/systemd/$tag"
  test ! -e "/sys/fs/cgroup/unified/$tag"
else
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  test ! -e "/sys/fs/cgroup/$tag"
fi
mount -t proc proc /proc
/lib/systemd/systemd --user \
  --default-standard-output=inherit --default-standard-error=inherit "$@" </dev/null &
manager=$!
trap 'kill -TERM $manager 2>/dev/null' TERM INT
wait $manager
"""


class ManagerStartError(RuntimeError):
    """The sandboxed user manager did not start; the message carries its log."""


class UnitVerifyError(AssertionError):
    """``systemd-analyze --user verify`` rejected a unit; ``output`` is what it said."""

    def __init__(self, path: Path, returncode: int, output: str) -> None:
        super().__init__(
            f"systemd-analyze --user verify {path} failed (exit {returncode}):\n{output}"
        )
        self.path = path
        self.returncode = returncode
        self.output = output


def cgroup_roots(cgroup_fs: Path = CGROUP_FS) -> list[Path] | None:
    """The cgroup hierarchies the manager needs, or None for a layout the sandbox can't handle.

    Hybrid/legacy (``name=systemd`` mounted): the named v1 hierarchy and the v2 one at
    ``unified`` (both are re-mounted inside). Pure v2: the one hierarchy.
    """
    if (cgroup_fs / "systemd").is_dir():
        if (cgroup_fs / "unified" / "cgroup.procs").exists():
            return [cgroup_fs / "systemd", cgroup_fs / "unified"]
        return None  # v1 without the v2 tree: cgroup2 inside would not be rooted in our tag
    if (cgroup_fs / "cgroup.controllers").exists():
        return [cgroup_fs]
    return None


def sandbox_unavailable_reason() -> str | None:
    """Why this machine cannot run the sandboxed manager, or None when it can."""
    if os.geteuid() != 0:
        return "the systemd user manager sandbox needs root"
    for tool in ("unshare", "nsenter", "setpriv", "systemctl", "systemd-analyze"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access(MANAGER_BINARY, os.X_OK):
        return f"{MANAGER_BINARY} is missing (apt-get install systemd)"
    if cgroup_roots() is None:
        return "unsupported cgroup layout (need pure v2, or name=systemd plus unified v2)"
    return None


def leftover_cgroups(cgroup_fs: Path = CGROUP_FS) -> list[Path]:
    """Sandbox cgroups (``sdum-*``) and stray ``init.scope`` dirs at the top of any hierarchy.

    An ``init.scope`` directly under a hierarchy root means a user manager ran outside its
    sandbox and moved the machine's processes; after every fixture this list must be empty
    (apart from the cgroups of a sandbox that is still running).
    """
    found: list[Path] = []
    for top in [cgroup_fs, *sorted(p for p in cgroup_fs.iterdir() if p.is_dir())]:
        with contextlib.suppress(OSError):
            for entry in top.iterdir():
                if entry.is_dir() and (
                    entry.name == "init.scope" or entry.name.startswith(TAG_PREFIX)
                ):
                    found.append(entry)
    return found


def _remove_tree(path: Path) -> None:
    """rmdir a cgroup and its children, depth-first (cgroupfs only allows rmdir)."""
    for child in sorted(
        (p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    ):
        with contextlib.suppress(FileNotFoundError):
            child.rmdir()
    with contextlib.suppress(FileNotFoundError):
        path.rmdir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_dead_sandboxes(cgroup_fs: Path = CGROUP_FS) -> list[Path]:
    """Remove ``sdum-<pid>-*`` cgroups and state dirs whose test process is gone (a killed run).

    Those of live test processes are left alone; rmdir refuses non-empty cgroups anyway.
    Returns what was removed.
    """
    removed: list[Path] = []
    roots = cgroup_roots(cgroup_fs) or []
    for state in STATE_PARENT.glob(f"{TAG_PREFIX}*"):
        match = _TAG_RE.match(state.name)
        if match and state.is_dir() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(state, ignore_errors=True)
            removed.append(state)
    for root in roots:
        with contextlib.suppress(OSError):
            for entry in root.iterdir():
                match = _TAG_RE.match(entry.name)
                if match and entry.is_dir() and not _pid_alive(int(match.group(1))):
                    with contextlib.suppress(OSError):
                        _remove_tree(entry)
                        removed.append(entry)
    return removed


def parse_show(text: str) -> dict[str, str]:
    """Parse ``systemctl show`` output (``Key=value`` lines) into a dict.

    A key printed more than once (``Listen=`` has one line per socket) keeps every value,
    joined with newlines, in the order printed.
    """
    result: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"systemctl show line without '=': {line!r}")
        result[key] = f"{result[key]}\n{value}" if key in result else value
    return result


_LISTEN_RE = re.compile(r"^(?P<address>.*) \((?P<type>[A-Za-z]+)\)$")


def parse_listen(value: str) -> list[tuple[str, str]]:
    """Parse the ``Listen`` property of a socket unit into ``(type, address)`` pairs, in order.

    ``systemctl show -p Listen`` prints one ``Listen=ADDRESS (TYPE)`` line per Listen*= entry,
    TYPE being ``Stream``, ``Datagram``, ``SequentialPacket``, ``FIFO``, ``Special``,
    ``Netlink``, ``MessageQueue`` or ``USBFunction``.
    """
    pairs: list[tuple[str, str]] = []
    for line in value.splitlines():
        if not line:
            continue
        match = _LISTEN_RE.match(line)
        if match is None:
            raise ValueError(f"unexpected Listen value: {line!r}")
        pairs.append((match["type"], match["address"]))
    return pairs


_PLAIN_ARG = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def exec_quote(*argv: str | os.PathLike[str]) -> str:
    """An ``ExecStart=`` value running *argv* verbatim: quoted, with ``%``/``$`` escaped.

    systemd expands ``%x`` specifiers and ``$VAR``/``${VAR}`` in command lines; ``%%`` and
    ``$$`` are the literal characters. Arguments with spaces, quotes or backslashes are
    double-quoted with C-style escapes (systemd.syntax(7)).
    """
    words = []
    for raw in argv:
        arg = os.fspath(raw).replace("%", "%%").replace("$", "$$")
        if arg and _PLAIN_ARG.match(arg):
            words.append(arg)
        else:
            escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            words.append(f'"{escaped}"')
    return " ".join(words)


class UserManager:
    """A running, sandboxed ``systemd --user``; use :meth:`start` (a context manager).

    Unit names are global to the manager: share one instance per session and give every test
    its own names (:meth:`unique_name`).
    """

    def __init__(self, state_dir: Path, tag: str, cgroup_dirs: list[Path]) -> None:
        self.state_dir = state_dir
        self.tag = tag
        self.cgroup_dirs = cgroup_dirs
        self.runtime_dir = state_dir / "runtime"
        self.config_dir = state_dir / "config"
        self.data_dir = state_dir / "data"
        self.unit_dir = self.config_dir / "systemd" / "user"
        self.log_path = state_dir / "manager.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._init_pid: int | None = None
        self._names = itertools.count(1)
        self.start_seconds: float | None = None
        """How long start-up took, up to ``is-system-running --wait`` answering."""
        self.stop_exit_code: int | None = None
        """The sandbox's exit status after :meth:`stop` (0: the manager exited cleanly)."""
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_CONFIG_HOME": str(self.config_dir),
            "XDG_DATA_HOME": str(self.data_dir),
            "XDG_STATE_HOME": str(state_dir / "state"),
            "XDG_CACHE_HOME": str(state_dir / "cache"),
            "SYSTEMD_PAGER": "cat",
            "SYSTEMD_COLORS": "0",
        }
        """Environment for commands talking to the manager (used by :meth:`run`)."""

    # -- life cycle ---------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, *, log_level: str = "info", manager_args: Sequence[str] = ()
    ) -> Iterator[UserManager]:
        """Start a sandboxed user manager; stop it and remove its cgroups on exit.

        *manager_args* are appended to ``systemd --user``'s command line. Services' stdout and
        stderr go to the manager's log (``--default-standard-output=inherit``).

        Raises :class:`ManagerStartError` (with the manager's log) if it does not come up, and
        :class:`RuntimeError` if this machine cannot host the sandbox.
        """
        reason = sandbox_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"cannot start a sandboxed user manager: {reason}")
        sweep_dead_sandboxes()
        roots = cgroup_roots()
        assert roots is not None
        tag = f"{TAG_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        # short: unit sockets under %t must fit the 107-byte sun_path limit
        state_dir = STATE_PARENT / tag
        state_dir.mkdir(mode=0o700)
        manager = cls(state_dir, tag, [root / tag for root in roots])
        try:
            manager._launch(log_level, manager_args)
            yield manager
        finally:
            manager.stop()

    def _launch(self, log_level: str, manager_args: Sequence[str]) -> None:
        for path in (self.unit_dir, self.data_dir, self.runtime_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)
        for cgroup in self.cgroup_dirs:
            cgroup.mkdir()
        env = dict(self.env)
        env.update(
            SDUM_TAG=self.tag,
            # stderr, i.e. manager.log: there is no journald, and as root the default target
            # would otherwise be the host's /dev/kmsg
            SYSTEMD_LOG_TARGET="console",
            SYSTEMD_LOG_LEVEL=log_level,
        )
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    *("/bin/sh", "-c", _ENTER, "sdum-enter", _INNER),
                    *map(str, self.cgroup_dirs),
                    "--",
                    *manager_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a ^C in the terminal reaches pytest, not the manager
            )
        private = self.runtime_dir / "systemd" / "private"
        deadline = started + START_TIMEOUT
        while not private.is_socket():
            if self._process.poll() is not None:
                raise ManagerStartError(self._failure("exited during start-up"))
            if time.monotonic() > deadline:
                raise ManagerStartError(self._failure(f"no {private} after {START_TIMEOUT} s"))
            time.sleep(0.02)
        self._init_pid = self._find_init_pid()
        left = max(1.0, deadline - time.monotonic())
        state = self.systemctl("is-system-running", "--wait", check=False, timeout=left)
        if state.stdout.strip() not in ("running", "degraded"):
            raise ManagerStartError(
                self._failure(f"is-system-running says {state.stdout.strip()!r}")
            )
        self.start_seconds = time.monotonic() - started

    def _find_init_pid(self) -> int:
        """Host PID of the namespace's init (unshare's only child)."""
        assert self._process is not None
        pid = self._process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            raise ManagerStartError(self._failure(f"unshare has children {children}"))
        return int(children[0])

    def _failure(self, what: str) -> str:
        return f"systemd user manager (sandbox {self.tag}) {what}; its log:\n{self.log()}"

    @property
    def running(self) -> bool:
        """True while the sandbox's processes are alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the manager (``systemctl --user exit``, bounded), then remove its cgroups.

        Falls back to SIGKILL of our ``unshare`` (by PID), which kills the namespace's init
        and with it every process of the PID namespace. Raises if a cgroup cannot be removed.
        """
        process = self._process
        if process is not None:
            if process.poll() is None and self._init_pid is not None:
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    self._run_inside(["systemctl", "--user", "exit"], timeout=STOP_TIMEOUT)
            self._process = None
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        self.stop_exit_code = None if process is None else process.returncode
        deadline = time.monotonic() + CGROUP_REMOVE_TIMEOUT
        for cgroup in self.cgroup_dirs:
            while True:
                try:
                    _remove_tree(cgroup)
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"cannot remove sandbox cgroup {cgroup}: {exc}") from exc
                    time.sleep(0.05)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> UserManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- talking to the manager ---------------------------------------------------------------

    def command(self, *argv: str | os.PathLike[str]) -> list[str]:
        """*argv* wrapped to run inside the sandbox's mount and PID namespaces."""
        if self._init_pid is None or not self.running:
            raise RuntimeError(f"the user manager of sandbox {self.tag} is not running")
        return [
            "nsenter",
            f"--target={self._init_pid}",
            "--mount",
            "--pid",
            "--",
            *[os.fspath(arg) for arg in argv],
        ]

    def _run_inside(
        self, argv: list[str], *, timeout: float, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv),
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(
        self,
        *argv: str | os.PathLike[str],
        check: bool = True,
        timeout: float = 30,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run *argv* next to the manager (its namespaces, :attr:`env`), capturing text output.

        With *check*, a non-zero exit raises :class:`AssertionError` with the command's output
        and the manager's log tail.
        """
        result = self._run_inside([os.fspath(a) for a in argv], timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(os.fspath(a) for a in argv)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
                f"manager log (tail):\n{self.log(lines=40)}"
            )
        return result

    def systemctl(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """``systemctl --user --no-pager ARGS`` against this manager."""
        return self.run("systemctl", "--user", "--no-pager", *args, check=check, timeout=timeout)

    def write_unit(self, name: str, text: str) -> Path:
        """Write unit file *name* into :attr:`unit_dir`; call :meth:`daemon_reload` after."""
        path = self.unit_dir / name
        path.write_text(text)
        return path

    def daemon_reload(self) -> None:
        """``systemctl --user daemon-reload``: the manager re-reads :attr:`unit_dir`."""
        self.systemctl("daemon-reload")

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl --user show UNIT [-p PROP ...]`` as a dict (see :func:`parse_show`)."""
        args = ["show", unit]
        for prop in props:
            args += ["-p", prop]
        return parse_show(self.systemctl(*args).stdout)

    def wait_for(self, unit: str, prop: str, value: str, timeout: float = 10) -> None:
        """Poll until ``show(unit, prop)[prop] == value``; on timeout raise with unit status."""
        deadline = time.monotonic() + timeout
        current = None
        while time.monotonic() < deadline:
            current = self.show(unit, prop).get(prop)
            if current == value:
                return
            time.sleep(0.05)
        status = self.systemctl("status", unit, check=False).stdout
        raise AssertionError(
            f"{unit}: {prop} is {current!r}, not {value!r} after {timeout} s\n{status}\n"
            f"manager log (tail):\n{self.log(lines=40)}"
        )

    def verify(self, path: Path) -> str:
        """``systemd-analyze --user verify PATH``: its output, or :class:`UnitVerifyError`."""
        result = self.run("systemd-analyze", "--user", "verify", path, check=False)
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            raise UnitVerifyError(path, result.returncode, output)
        return output

    # -- helpers ------------------------------------------------------------------------------

    def unique_name(self, stem: str = "t") -> str:
        """A unit-name prefix no other caller of this manager gets (``stem-N``)."""
        safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40] or "t"
        return f"{safe}-{next(self._names)}"

    def host_pid(self, ns_pid: int) -> int:
        """The host PID of a process the manager knows by its namespace PID (e.g. MainPID)."""
        init = self._init_pid
        assert init is not None
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                text = status.read_text()
                nspid = next(
                    (line.split()[1:] for line in text.splitlines() if line.startswith("NSpid:")),
                    [],
                )
                if len(nspid) >= 2 and int(nspid[-1]) == ns_pid and self._in_sandbox(status):
                    return int(nspid[0])
        raise LookupError(f"no process with PID {ns_pid} in sandbox {self.tag}")

    def _in_sandbox(self, status: Path) -> bool:
        own = Path(f"/proc/{self._init_pid}/ns/pid")
        try:
            return os.readlink(status.parent / "ns" / "pid") == os.readlink(own)
        except OSError:
            return False

    def log(self, lines: int | None = None) -> str:
        """The manager's own output (stderr, log target ``console``), optionally the tail."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no manager log>"
        if lines is not None:
            text = "\n".join(text.splitlines()[-lines:])
        return text or "<empty>"
