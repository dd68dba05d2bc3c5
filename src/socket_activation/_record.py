# ruff: noqa: N807  (dunder methods are built here and attached to the class)
"""A lightweight ``@dataclass(frozen=True)`` for the modules on the activated start-up path.

``dataclasses`` imports ``inspect`` (about 8 ms here), more than reading ``LISTEN_FDS`` and
wrapping a socket costs altogether; the activated path is benchmarked against libsystemd's own
binding (benchmarks/startup.py). Type checkers see the real :func:`dataclasses.dataclass`; at
run time :func:`record` builds ``__init__``, ``__repr__``, ``__eq__`` and ``__hash__`` from the
class annotations, in order, with class-level defaults, and forbids assignment afterwards.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at import; type checkers treat this as True

__all__ = ["record", "replace"]

if TYPE_CHECKING:
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    _T = TypeVar("_T")

    @dataclass_transform(frozen_default=True)
    def record(cls: type[_T]) -> type[_T]: ...

    def replace(obj: _T, **changes: Any) -> _T: ...

else:

    def replace(obj: object, **changes: object) -> object:
        """A copy of record *obj* with some fields changed (like dataclasses.replace)."""
        values = {name: getattr(obj, name) for name in obj.__match_args__}
        values.update(changes)
        return obj.__class__(**values)

    def record(cls: type) -> type:
        """Make *cls* a frozen record of its annotated fields."""
        annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - no inspect here
        fields = [name for name in annotations if name[0] != "_"]
        defaults = {name: cls.__dict__[name] for name in fields if name in cls.__dict__}

        # A specialised __init__, generated as dataclasses does: a generic one costs ~4 us a
        # call, which resolving 1,000 inherited fds pays three times per fd.
        params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in fields)
        body = "".join(f"\n    d[{n!r}] = {n}" for n in fields)
        source = f"def __init__(self, {params}):\n    d = self.__dict__{body}\n"
        namespace: dict[str, object] = {f"_default_{n}": v for n, v in defaults.items()}
        exec(source, namespace)  # noqa: S102 - field names come from the class annotations
        __init__ = namespace["__init__"]

        def __setattr__(self: object, name: str, value: object) -> None:
            raise AttributeError(f"{cls.__name__} is frozen: cannot set {name!r}")

        def astuple(self: object) -> tuple[object, ...]:
            return tuple(getattr(self, name) for name in fields)

        def __eq__(self: object, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return astuple(self) == astuple(other)

        def __hash__(self: object) -> int:
            return hash(astuple(self))

        def __repr__(self: object) -> str:
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
            return f"{cls.__name__}({inner})"

        cls.__init__ = __init__
        cls.__setattr__ = __setattr__
        cls.__eq__ = __eq__
        cls.__hash__ = __hash__
        cls.__repr__ = __repr__
        cls.__match_args__ = tuple(fields)
        return cls
