"""Which file watcher for ``supervise --watch``? inotify (ctypes), polling, watchfiles.

A tree of ``--files`` Python files in ``--dirs`` directories (a mid-sized project). For each
watcher, side by side in one run:

- set-up: time to start watching the tree (inotify: a watch per directory; polling: the
  first scan);
- set-up: for watchfiles only the start of its thread (it registers the tree in the
  background and does not say when it is done; it gets 0.3 s before the first edit);
- latency: an editor-style save (write a temp file, rename it over the original) to the
  watcher reporting it, ``--edits`` times, one edit at a time; median, p95, max;
- idle CPU: CPU time the process spends per second while nothing changes (``--idle`` s).

watchfiles (the Rust ``notify`` crate, what uvicorn's ``--reload`` uses) runs with its
defaults, as uvicorn does; it is measured only when installed (``pip install watchfiles``).
Polling's latency is close to its interval here because each edit follows the previous
detection by 50 ms, i.e. just after a scan.

    python benchmarks/watch.py [--files 2000] [--dirs 50] [--edits 30] [--idle 2]
"""

from __future__ import annotations

import argparse
import os
import queue
import select
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from socket_activation.restart.watch import InotifyWatcher, PollingWatcher, Watcher

# how long to wait for one edit to be reported before counting it as missed
_MISS = 5.0


def make_tree(root: Path, files: int, dirs: int) -> list[Path]:
    paths = []
    for index in range(files):
        directory = root / f"pkg{index % dirs}"
        directory.mkdir(exist_ok=True)
        path = directory / f"mod{index}.py"
        path.write_text(f"VALUE = {index}\n")
        paths.append(path)
    return paths


def save(path: Path, text: str) -> None:
    """What editors do: write a temporary file, then rename it over the original."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    os.replace(tmp, path)


class Native:
    """Drives one of our watchers the way the supervisor loop does."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def wait(self, target: str, deadline: float) -> float | None:
        while (now := time.monotonic()) < deadline:
            fd = self.watcher.fileno()
            wait = deadline - now
            if fd is not None:
                select.select([fd], [], [], wait)
            else:
                time.sleep(min(wait, self.watcher.timeout() or 0.01))
            if any(p == target for p in self.watcher.changes()):
                return time.monotonic()
        return None

    def settle(self) -> None:
        """Ready when constructed: inotify_add_watch and the first scan are synchronous."""

    def close(self) -> None:
        self.watcher.close()


class Watchfiles:
    """watchfiles.watch() in a thread, as uvicorn runs it, feeding a queue."""

    def __init__(self, root: Path) -> None:
        import watchfiles

        self._stop = threading.Event()
        self._events: queue.Queue[tuple[float, set[str]]] = queue.Queue()
        self._started = threading.Event()

        def run() -> None:
            self._started.set()
            for changes in watchfiles.watch(root, stop_event=self._stop):
                self._events.put((time.monotonic(), {p for _c, p in changes}))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._started.wait()

    def settle(self) -> None:
        """The Rust watcher registers the tree in its own thread and says nothing when done:
        give it 0.3 s (not counted in set-up, which is therefore only the thread start)."""
        time.sleep(0.3)

    def wait(self, target: str, deadline: float) -> float | None:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                when, paths = self._events.get(timeout=remaining)
            except queue.Empty:
                return None
            if target in paths:
                return when
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def measure(
    name: str, make: Callable[[], Native | Watchfiles], paths: list[Path], edits: int, idle: float
) -> dict[str, str]:
    started = time.perf_counter()
    watcher = make()
    setup = time.perf_counter() - started
    watcher.settle()
    latencies: list[float] = []
    missed = 0
    try:
        for round_ in range(edits):
            path = paths[(round_ * 37) % len(paths)]
            time.sleep(0.05)  # one edit at a time: nothing pending from the last one
            begin = time.monotonic()
            save(path, f"VALUE = {round_} # {name}\n")
            seen = watcher.wait(str(path), begin + _MISS)
            if seen is None:
                missed += 1
            else:
                latencies.append(seen - begin)
        cpu0, wall0 = time.process_time(), time.monotonic()
        if isinstance(watcher, Native):
            watcher.wait("<nothing>", time.monotonic() + idle)
        else:
            time.sleep(idle)
        cpu_per_s = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    finally:
        watcher.close()
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))] if ms else float("nan")
    return {
        "watcher": name,
        "set-up ms": f"{setup * 1000:.1f}",
        "median ms": f"{statistics.median(ms):.1f}" if ms else "-",
        "p95 ms": f"{p95:.1f}",
        "max ms": f"{max(ms):.1f}" if ms else "-",
        "missed": str(missed),
        "idle CPU ms/s": f"{cpu_per_s * 1000:.2f}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--dirs", type=int, default=50)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--idle", type=float, default=2.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sa-watch-"))
    try:
        paths = make_tree(root, args.files, args.dirs)
        candidates: list[tuple[str, Callable[[], Native | Watchfiles]]] = [
            ("inotify (ctypes)", lambda: Native(InotifyWatcher([root]))),
            ("polling 0.25 s", lambda: Native(PollingWatcher([root], interval=0.25))),
        ]
        try:
            import watchfiles

            version = getattr(watchfiles, "__version__", "?")
            candidates.append((f"watchfiles {version}", lambda: Watchfiles(root)))
        except ImportError:
            print("watchfiles is not installed: pip install watchfiles to compare it\n")
        rows = [measure(name, make, paths, args.edits, args.idle) for name, make in candidates]
    finally:
        shutil.rmtree(root)
    print(
        f"{args.files} files in {args.dirs} directories, {args.edits} saves each, "
        f"{args.idle:g} s idle; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
    base = float(rows[0]["median ms"]) if rows[0]["median ms"] != "-" else None
    if base:
        for row in rows[1:]:
            if row["median ms"] != "-":
                ratio = float(row["median ms"]) / base
                print(f"\n{row['watcher']}: median latency {ratio:.0f}x inotify's", end="")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
