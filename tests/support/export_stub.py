"""Write ``src/socket_activation/__init__.pyi`` from the package's export table.

The table (``socket_activation._EXPORTS``) is the one place the public names are written; the
stub gives type checkers and editors the same names with their real types. Run
``python -m tests.support.export_stub`` after changing the table; ``tests/test_exports.py``
fails while the stub is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import socket_activation

STUB = Path(socket_activation.__file__).with_name("__init__.pyi")


def render() -> str:
    """The stub's text for the current export table."""
    lines = [
        '"""Generated from socket_activation._EXPORTS by `python -m tests.support.export_stub`;',
        'do not edit: change the table in __init__.py and run that command."""',
        "",
    ]
    for module, names in socket_activation._EXPORTS.items():
        lines.append(f"from {module} import (")
        lines.extend(f"    {name}," for name in names)
        lines.append(")")
    lines += [
        "",
        "__version__: str",
        "_EXPORTS: dict[str, tuple[str, ...]]",
        "",
        "__all__ = [",
        *(f'    "{name}",' for name in socket_activation.__all__),
        "]",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    STUB.write_text(render())
    print(f"wrote {STUB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
