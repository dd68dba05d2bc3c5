"""Build and drive the C stand-in for launchd (tests/support/launchd_stub.c).

:func:`build_stub` compiles it with the system compiler into a directory; :class:`Stub` opens
the built library through ctypes (the same handle the binding under test gets, since dlopen of
one path gives one handle) to configure answers and read the counters.
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

__all__ = ["SPEC_VARIABLE", "STUB_SOURCE", "Stub", "build_stub"]

STUB_SOURCE = Path(__file__).parent / "launchd_stub.c"
# read by the stub when stub_configure() was never called (a child process)
SPEC_VARIABLE = "LAUNCHD_STUB_SPEC"


def build_stub(compiler: str, directory: Path) -> Path:
    """Compile the stand-in into *directory*; the path of the shared library."""
    out = directory / "launchd_stub.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out),
         str(STUB_SOURCE), "-ldl"],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    return out


class Stub:
    """The built stand-in, loaded in this process: set answers, read counters."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lib = ctypes.CDLL(str(path))
        self._lib.stub_configure.argtypes = [ctypes.c_char_p]
        self._lib.stub_configure.restype = ctypes.c_int
        for counter in ("call", "alloc", "free", "bad_free", "live"):
            getattr(self._lib, f"stub_{counter}_count").restype = ctypes.c_long
        self._lib.stub_last_name.restype = ctypes.c_char_p

    def configure(self, spec: str) -> None:
        """Set the answers (see the C file) and reset every counter."""
        if self._lib.stub_configure(spec.encode()) != 0:
            raise ValueError(f"stub spec too long: {spec!r}")

    @property
    def calls(self) -> int:
        """Calls of launch_activate_socket since the last configure."""
        return int(self._lib.stub_call_count())

    @property
    def allocs(self) -> int:
        """Arrays malloc'd since the last configure."""
        return int(self._lib.stub_alloc_count())

    @property
    def frees(self) -> int:
        """Arrays of ours given to free() since the last configure."""
        return int(self._lib.stub_free_count())

    @property
    def bad_frees(self) -> int:
        """free() calls on pointers the stub did not hand out, or handed out and freed already."""
        return int(self._lib.stub_bad_free_count())

    @property
    def live(self) -> int:
        """Arrays handed out and not freed yet."""
        return int(self._lib.stub_live_count())

    @property
    def last_name(self) -> bytes:
        """The name bytes of the last call."""
        return bytes(self._lib.stub_last_name())
