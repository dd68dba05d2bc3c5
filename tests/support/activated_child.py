"""Child for tests/test_systemd.py: plays the service manager's part, then runs a test body.

argv[1] is JSON: ``{"fds": [fd or null, ...], "env": {...}, "body": "python source"}``. The
child moves the inherited fds (given with ``pass_fds``) to 3, 4, ... with CLOEXEC clear, as
systemd does (``null`` leaves that slot closed), sets ``env`` (``{pid}`` becomes its own pid),
then runs ``body``, which fills the dict ``report``; the report is printed as JSON.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from typing import Any

HIGH = 200  # staging area above every fd a test lays out


def main() -> None:
    spec = json.loads(sys.argv[1])
    staged: list[int | None] = []
    for fd in spec["fds"]:
        if fd is None:
            staged.append(None)
            continue
        staged.append(fcntl.fcntl(fd, fcntl.F_DUPFD, HIGH))
    os.closerange(3, HIGH)
    for index, fd in enumerate(staged):
        if fd is not None:
            os.dup2(fd, 3 + index, inheritable=True)
            os.close(fd)
    for name, value in spec["env"].items():
        os.environ[name] = value.replace("{pid}", str(os.getpid()))
    report: dict[str, Any] = {}
    exec(spec["body"], {"report": report})  # noqa: S102 - the test's own code
    sys.stdout.write(json.dumps(report))


if __name__ == "__main__":
    main()
