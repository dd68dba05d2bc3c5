"""The export table: one list of public names, a stub generated from it, every name real."""

from __future__ import annotations

import importlib

import pytest

import socket_activation
from tests.support import export_stub


def test_the_stub_is_generated_from_the_table() -> None:
    """__init__.pyi says what the table says; regenerate it with the command in the message."""
    assert export_stub.STUB.read_text() == export_stub.render(), (
        "src/socket_activation/__init__.pyi is out of date: run "
        "`.venv/bin/python -m tests.support.export_stub`"
    )


def test_every_name_is_written_once() -> None:
    """No name stands under two modules, and __all__ is the table's names plus __version__."""
    names = [name for names in socket_activation._EXPORTS.values() for name in names]
    assert len(names) == len(set(names))
    assert socket_activation.__all__ == ["__version__", *names]


def test_every_name_comes_from_the_module_the_table_names() -> None:
    """Each lazily loaded name is the object its module defines, and dir() lists them all."""
    for module, names in socket_activation._EXPORTS.items():
        defining = importlib.import_module(module, "socket_activation")
        for name in names:
            assert getattr(socket_activation, name) is getattr(defining, name)
    assert set(dir(socket_activation)) >= set(socket_activation.__all__)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    """A typo gets the usual AttributeError with the name, not a KeyError."""
    with pytest.raises(AttributeError, match="no_such_thing"):
        socket_activation.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
