"""The gunicorn peer's app for benchmarks/restart.py: 0.3 s of start-up work, answers its pid."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

time.sleep(float(os.environ.get("APP_STARTUP", "0.3")))  # start-up work: imports, caches


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = f"{os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Length", str(len(body))), ("Connection", "close")])
    return [body]
