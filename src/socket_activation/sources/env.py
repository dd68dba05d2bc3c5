"""The environment source: ``<PREFIX><FIELD>`` variables, e.g. ``SOCKET_ACTIVATION_PORT``.

The app chooses the prefix (the CLI uses ``SOCKET_ACTIVATION_``). Variables read::

    <PREFIX>HOST, <PREFIX>PORT, <PREFIX>UDS, <PREFIX>BACKLOG, <PREFIX>SOCKET_MODE,
    <PREFIX>WORKERS, <PREFIX>HTTP3
    <PREFIX>LISTEN         several addresses, separated by whitespace or commas:
                           "127.0.0.1:8000 datagram:127.0.0.1:8443 /run/app.sock"
    <PREFIX>LAUNCHD_NAMES  launchd socket names, separated by whitespace or commas

An empty variable counts as unset. Values stay strings here; the model validates them and the
error names the variable. A small hand-written reader rather than pydantic-settings: importing
pydantic-settings costs about 100 ms more than pydantic alone (measured with ``-X importtime``),
and the two list variables need this grammar anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._data import SourceData

__all__ = ["ENV_FIELDS", "read_env", "split_list"]

# field name -> is a list (several values in one variable)
ENV_FIELDS: dict[str, bool] = {
    "host": False,
    "port": False,
    "uds": False,
    "backlog": False,
    "socket_mode": False,
    "workers": False,
    "http3": False,
    "listen": True,
    "launchd_names": True,
}

_SEPARATORS = re.compile(r"[\s,]+")


def split_list(text: str) -> list[str]:
    """Items of a list variable: separated by any run of whitespace and commas."""
    return [item for item in _SEPARATORS.split(text) if item]


def read_env(environ: Mapping[str, str], prefix: str) -> SourceData:
    """The fields set in *environ* under *prefix* (pure: the mapping is passed in)."""
    data = SourceData()
    for name, is_list in ENV_FIELDS.items():
        variable = f"{prefix}{name.upper()}"
        raw = environ.get(variable, "")
        if not raw.strip():
            continue
        data.set(name, split_list(raw) if is_list else raw.strip(), variable)
    return data
