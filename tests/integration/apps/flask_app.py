"""A Flask app: ``/`` answers the pid."""

from __future__ import annotations

import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def pid() -> str:
    return str(os.getpid())
