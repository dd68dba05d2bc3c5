"""systemd's own reading of a ``.socket`` unit, as the oracle of the unit-source tests.

``SYSTEMD_LOG_LEVEL=debug systemd-analyze [--user] verify --man=no UNIT`` loads the unit exactly as
the manager would (the same parsers: load-fragment.c, socket.c) and, at debug level, dumps the
loaded unit (``socket_dump``) on stdout: one ``Key: Value`` line per setting, one
``ListenStream: ADDRESS`` (``ListenDatagram``, ``ListenSequentialPacket``, ``ListenFIFO``,
``ListenNetlink``, ``ListenSpecial``, ``ListenMessageQueue``, ``ListenUSBFunction``) line per
port in order. Syntax warnings go to stderr as ``FILE:LINE: message``.

:func:`verify_unit` copies the unit (and its drop-in directory) into a private directory, adds a
stub service so that a missing ``ExecStart=`` binary cannot change the outcome, runs the tool
and returns a :class:`Verified`. Pure reading of the tool's output; nothing here imports the
library under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LISTEN_KEYS", "Verified", "verify_unit"]

LISTEN_KEYS = (
    "ListenStream",
    "ListenDatagram",
    "ListenSequentialPacket",
    "ListenFIFO",
    "ListenNetlink",
    "ListenSpecial",
    "ListenMessageQueue",
    "ListenUSBFunction",
)
_DUMP_LINE = re.compile(r"^\t\t([A-Za-z][A-Za-z0-9 ]*?): ?(.*)$")


@dataclass
class Verified:
    """What systemd made of one unit."""

    name: str
    loaded: bool  # Unit Load State: loaded (not bad-setting, error, not-found)
    settings: dict[str, str] = field(default_factory=dict)  # last value of each dump key
    listen: list[tuple[str, str]] = field(default_factory=list)  # (ListenX, address) in order
    # (file, line, message); file is "" for the unit file, else the drop-in's NAME.d/FILE path
    warnings: list[tuple[str, int, str]] = field(default_factory=list)
    stderr: str = ""


def _tool() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        raise FileNotFoundError("systemd-analyze is not installed")
    return found


def verify_unit(
    text: str,
    name: str,
    *,
    user: bool = False,
    dropins: dict[str, str] | None = None,
    runtime_dir: str | None = None,
    workdir: str | None = None,
) -> Verified:
    """Load unit *text* named *name* with systemd's own code and return its parsed view.

    *dropins* maps ``NAME.socket.d/FILE.conf``-relative file names to their text. *user* loads
    it as the user manager would (``%t`` is *runtime_dir*). A template is verified under the
    instance in *name* (``foo@bar.socket`` with the file ``foo@.socket``).
    """
    with tempfile.TemporaryDirectory(prefix="sdverify-", dir=workdir) as tmp:
        directory = Path(tmp) / "units"
        directory.mkdir()
        file_name = _file_name(name)
        (directory / file_name).write_text(text)
        for rel, body in (dropins or {}).items():
            target = directory / f"{file_name}.d" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        _stub_services(directory, name)
        env = dict(os.environ, SYSTEMD_LOG_LEVEL="debug", SYSTEMD_LOG_COLOR="0")
        if user:
            runtime = runtime_dir or str(Path(tmp) / "runtime")
            Path(runtime).mkdir(mode=0o700, exist_ok=True)
            env["XDG_RUNTIME_DIR"] = runtime
        argv = [_tool(), *(["--user"] if user else []), "verify", "--man=no", f"./{name}"]
        done = subprocess.run(
            argv, cwd=directory, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        return _parse(name, str(directory / file_name), done.stdout, done.stderr)


def _file_name(name: str) -> str:
    """The file that holds unit *name*: the template's for an instance."""
    prefix, at, rest = name.partition("@")
    if not at or rest.startswith("."):
        return name
    return f"{prefix}@{rest[rest.rindex('.') :]}"


def _stub_services(directory: Path, name: str) -> None:
    """A trivial service for the socket, so that verify judges the socket unit alone."""
    stem = name.removesuffix(".socket")
    prefix = stem.partition("@")[0]
    stub = "[Service]\nExecStart=/bin/true\n"
    (directory / f"{stem}.service").write_text(stub)
    (directory / f"{prefix}@.service").write_text(stub)


def _parse(name: str, path: str, stdout: str, stderr: str) -> Verified:
    result = Verified(name=name, loaded=False, stderr=stderr)
    inside = False
    for line in stdout.splitlines():
        if line.startswith("\t-> Unit "):
            inside = line == f"\t-> Unit {name}:"
            continue
        if not inside:
            continue
        m = _DUMP_LINE.match(line)
        if not m:
            continue
        key, value = m[1], m[2]
        if key in LISTEN_KEYS:
            result.listen.append((key, value))
        else:
            result.settings.setdefault(key, value)
    result.loaded = result.settings.get("Unit Load State") == "loaded"
    for m in re.finditer("^(" + re.escape(path) + r"(?:\.d/[^:]+)?):(\d+): (.*)$", stderr, re.M):
        result.warnings.append((m[1][len(path) + 1 :], int(m[2]), m[3]))
    return result
