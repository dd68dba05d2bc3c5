"""Real podman for tests: the settings this kind of machine needs, a base image made from
Debian's packages, and the project's image built from packaging/container/Containerfile.

Why each setting (measured on the development and CI machines: root, PID 1 is not systemd,
cgroup v1 + v2 "hybrid", no container registry, no bridge networking):

- ``--runtime runc``: crun refuses hybrid cgroups ("cgroups in hybrid mode not supported");
- ``--cgroup-manager cgroupfs`` when PID 1 is not systemd: there is no systemd to ask for scopes;
- ``default_ulimits`` of 4096 in a ``containers.conf`` of our own: podman's defaults are above the
  host's limits, and the container's init may not raise them (no CAP_SYS_RESOURCE here);
- ``--network host`` for every run and ``--network none`` for builds: loopback only, and a build
  that needs no network proves it (the wheels come from the host);
- no registry: the base image ``localhost/debian:bookworm`` is made here with ``mmdebstrap``
  (Debian 12 minbase plus python3 and python3-venv) and ``podman import``, once per machine.

Inside a sandboxed systemd user manager (tests/integration/usermanager.py) ``/sys/fs/cgroup`` holds
only the systemd and unified hierarchies, where runc would look for the v1 controllers:
:meth:`Podman.unit_command` starts podman in a private mount namespace with the host's v1
controllers mounted (``unshare --mount`` keeps the pid, so ``LISTEN_PID`` stays right).

Containers and images the tests create are named ``sa-test-*`` and removed by those names.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.conftest import require, require_root, require_tool

__all__ = [
    "BASE_IMAGE",
    "CONTAINERFILE",
    "Podman",
    "build_context",
    "ensure_base_image",
    "require_podman",
    "unique_name",
]

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "packaging" / "container" / "Containerfile"
MAKE_CONTEXT = ROOT / "packaging" / "container" / "make-context"
BASE_IMAGE = "localhost/debian:bookworm"
# the image's python3 (Debian 12); make-context downloads wheels for it
BASE_PYTHON = "3.11"
_ULIMITS = 'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]'
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unique_name(stem: str) -> str:
    """``sa-test-<stem>-<random>``: a container or image name no other run uses."""
    return f"sa-test-{stem}-{secrets.token_hex(4)}"


def require_podman() -> None:
    """Skip (fail under CI) unless podman, runc and root are there."""
    require_root()
    for tool in ("podman", "runc"):
        require_tool(tool)


class Podman:
    """``podman`` with this machine's settings; *state* holds our ``containers.conf``."""

    def __init__(self, state: Path) -> None:
        self.conf = state / "containers.conf"
        self.conf.write_text(f"[containers]\n{_ULIMITS}\n")
        self.global_options = ["--runtime", "runc"]
        if not Path("/run/systemd/system").is_dir():  # PID 1 is not systemd
            self.global_options += ["--cgroup-manager", "cgroupfs"]
        self.env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        return ["podman", *self.global_options, *map(str, args)]

    def __call__(
        self, *args: str | os.PathLike[str], check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {shlex.join(map(str, args))} exited {done.returncode}:\n{done.stderr}"
            )
        return done

    def popen(self, *args: str | os.PathLike[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            self.argv(*args), env=self.env, text=True, **kwargs
        )

    def image_exists(self, name: str) -> bool:
        return self("image", "exists", name, check=False).returncode == 0

    def remove_container(self, name: str) -> None:
        self("rm", "--force", "--ignore", "--time", "0", name, check=False)

    def remove_image(self, name: str) -> None:
        self("rmi", "--force", name, check=False)

    def exec_(self, container: str, *argv: str) -> str:
        """Run *argv* inside the running *container* (as root); its stdout."""
        return self("exec", container, *argv).stdout

    def wait_running(self, container: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self("inspect", "--format", "{{.State.Status}}", container, check=False)
            if state.stdout.strip() == "running":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"container {container} is not running: {state.stdout}")
            time.sleep(0.1)

    def unit_command(self, *args: str | os.PathLike[str]) -> list[str]:
        """``podman ARGS`` as a unit's ``ExecStart=`` inside the user-manager sandbox runs it."""
        mounts = _v1_controllers()
        if not mounts:
            return self.argv(*args)
        script = ["set -eu", "mount -t tmpfs -o mode=755 sa-cgroup /sys/fs/cgroup"]
        for name, options in mounts:
            script.append(f"mkdir /sys/fs/cgroup/{name}")
            script.append(f"mount -t cgroup -o {options} cgroup /sys/fs/cgroup/{name}")
        script += [
            "mkdir /sys/fs/cgroup/unified",
            "mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified",
            'exec "$@"',
        ]
        inner = "; ".join(script)
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            inner,
            "sh",
            *self.argv(*args),
        ]

    def unit_environment(self) -> str:
        """The ``Environment=`` line for such a unit."""
        return f"Environment=CONTAINERS_CONF={self.conf} PATH={_PATH}"


def _v1_controllers() -> list[tuple[str, str]]:
    """(directory, mount options) of the host's cgroup v1 hierarchies, named ones included."""
    found: list[tuple[str, str]] = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] != "cgroup":
            continue
        where = Path(fields[1])
        if where.parent != Path("/sys/fs/cgroup"):
            continue
        wanted = [o for o in fields[3].split(",") if o not in ("rw", "ro", "nosuid", "nodev")]
        wanted = [o for o in wanted if o not in ("noexec", "relatime", "clone_children")]
        if all(o.startswith(("name=", "xattr")) for o in wanted):  # a named hierarchy
            wanted.insert(0, "none")
        found.append((where.name, ",".join(wanted)))
    return found


def ensure_base_image(podman: Podman, work: Path, name: str = BASE_IMAGE) -> None:
    """Build *name* (``localhost/debian:bookworm``) from Debian's packages unless it exists
    (about 35 s: mmdebstrap's minbase with python3 and python3-venv, then ``podman import``)."""
    if podman.image_exists(name):
        return
    mmdebstrap = require_tool("mmdebstrap")
    tar = work / "rootfs.tar"
    subprocess.run(
        [
            mmdebstrap,
            "--quiet",
            "--variant=minbase",
            "--include=python3,python3-venv",
            "bookworm",
            str(tar),
        ],
        check=True,
        timeout=600,
    )
    try:
        podman("import", tar, name, timeout=300)
    finally:
        tar.unlink(missing_ok=True)


def build_context(python: str, dest: Path) -> Path:
    """*dest*/wheels/: this checkout's wheel and its dependencies', for Python *python*."""
    env = {**os.environ, "PYTHON": python}
    done = subprocess.run(
        [str(MAKE_CONTEXT), str(dest), BASE_PYTHON],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    require(done.returncode == 0, f"make-context could not fetch the wheels: {done.stderr}")
    return dest


@contextlib.contextmanager
def built_image(podman: Podman, python: str) -> Iterator[str]:
    """The project's image (Containerfile on the Debian base), removed afterwards."""
    name = f"localhost/{unique_name('image')}:latest"
    with tempfile.TemporaryDirectory(prefix="sa-ctx-") as tmp:
        context = build_context(python, Path(tmp))
        podman(
            "build",
            "--quiet",
            "--network",
            "none",
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            "--file",
            CONTAINERFILE,
            "--tag",
            name,
            context,
            timeout=600,
        )
    try:
        yield name
    finally:
        podman.remove_image(name)


def run_argv(
    image: str,
    name: str,
    *,
    options: Sequence[str] = (),
    command: Sequence[str] = (),
) -> list[str]:
    """``run --rm --network host --name NAME OPTIONS IMAGE COMMAND`` (give to Podman.argv)."""
    return ["run", "--rm", "--network", "host", "--name", name, *options, image, *command]
