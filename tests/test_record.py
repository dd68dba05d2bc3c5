"""The light frozen record used on the start-up path behaves like a frozen dataclass."""

from __future__ import annotations

import pytest

from socket_activation._record import record, replace


@record
class Point:
    x: int
    y: int = 2
    label: str = "p"


def test_fields_in_order_with_defaults_and_keywords() -> None:
    """Positional and keyword arguments fill annotated fields; defaults apply."""
    assert Point(1) == Point(x=1, y=2, label="p")
    assert Point(1, 3).y == 3
    assert repr(Point(1)) == "Point(x=1, y=2, label='p')"


def test_frozen_hashable_and_comparable() -> None:
    """Assignment is refused; equal records hash alike; other types are not equal."""
    p = Point(1)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 5  # type: ignore[misc]
    assert hash(p) == hash(Point(1))
    assert p != Point(2)
    assert p.__eq__((1, 2, "p")) is NotImplemented


def test_missing_and_unknown_fields_are_type_errors() -> None:
    """Like a dataclass: a missing field or an unknown keyword raises TypeError."""
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]


def test_replace_copies_with_changes() -> None:
    """replace() gives a new record with some fields changed, the original untouched."""
    p = Point(1)
    q = replace(p, y=9)
    assert (q.x, q.y, q.label) == (1, 9, "p")
    assert p.y == 2


def _fresh_class() -> type[Point]:
    @record
    class Fresh:
        x: int
        y: int = 2
        label: str = "p"

    return Fresh  # type: ignore[return-value]


def _binds_like_a_dataclass(cls: type[Point]) -> None:
    assert cls(1) == cls(x=1, y=2, label="p")
    assert (cls(1, 3, label="q").y, cls(1, 3, label="q").label) == (3, "q")
    assert cls(label="z", x=0).label == "z"
    with pytest.raises(TypeError):
        cls()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        cls(1, z=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        cls(1, x=1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        cls(1, 2, "a", 4)  # type: ignore[call-arg]


def test_the_generic_and_the_compiled_init_bind_alike() -> None:
    """A record starts with a generic __init__ (no compile on a short start-up) and gets the
    compiled one after enough instances; both bind arguments like a dataclass's __init__."""
    cls = _fresh_class()
    generic = cls.__init__
    _binds_like_a_dataclass(cls)
    for _ in range(100):
        cls(0)
    assert cls.__init__ is not generic, "specialised after many instances"
    _binds_like_a_dataclass(cls)


def test_a_class_defined_repr_is_kept() -> None:
    """ListenAddress prints itself in its own grammar; record must not replace that."""

    @record
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("x")) == "<x>"
    from socket_activation.net.address import ListenAddress

    assert repr(ListenAddress.parse("127.0.0.1:80")) == "ListenAddress('127.0.0.1:80')"
