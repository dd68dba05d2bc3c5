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
    from dataclasses import dataclass as record
    from dataclasses import replace
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

        def __init__(self: object, *args: object, **kwargs: object) -> None:
            if len(args) > len(fields):
                raise TypeError(f"{cls.__name__} takes {len(fields)} fields, got {len(args)}")
            values = dict(zip(fields, args, strict=False))
            for name, value in kwargs.items():
                if name not in fields or name in values:
                    raise TypeError(f"{cls.__name__}: unexpected or repeated field {name!r}")
                values[name] = value
            for name in fields:
                if name not in values:
                    if name not in defaults:
                        raise TypeError(f"{cls.__name__}: missing field {name!r}")
                    values[name] = defaults[name]
                object.__setattr__(self, name, values[name])

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
