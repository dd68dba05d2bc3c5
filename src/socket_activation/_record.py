# ruff: noqa: N807  (dunder methods are built here and attached to the class)
"""A lightweight ``@dataclass(frozen=True)`` for the modules on the activated start-up path.

``dataclasses`` imports ``inspect`` (about 8 ms here), more than reading ``LISTEN_FDS`` and
wrapping a socket costs altogether; the activated path is benchmarked against libsystemd's own
binding (benchmarks/startup.py). Type checkers see the real :func:`dataclasses.dataclass`; at
run time :func:`record` builds ``__init__``, ``__repr__`` (unless the class has its own),
``__eq__`` and ``__hash__`` from the class annotations, in order, with class-level defaults,
and forbids assignment afterwards.
``__init__`` starts generic and is compiled for the class's fields once it has been called
often: compiling costs more than a start-up with a few fds saves, and less than 1,000 fds do.
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

    # instances after which a record class gets its compiled __init__ (1,000 inherited fds do)
    _SPECIALISE_AFTER = 64

    def _specialised_init(fields: list[str], defaults: dict[str, object]) -> object:
        """An ``__init__`` generated as dataclasses does: ~1 us a call, ~75 us to compile."""
        params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in fields)
        body = "".join(f"\n    d[{n!r}] = {n}" for n in fields) or "\n    pass"
        source = f"def __init__(self, {params}):\n    d = self.__dict__{body}\n"
        namespace: dict[str, object] = {f"_default_{n}": v for n, v in defaults.items()}
        exec(source, namespace)  # noqa: S102 - field names come from the class annotations
        return namespace["__init__"]

    def record(cls: type) -> type:
        """Make *cls* a frozen record of its annotated fields."""
        annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - no inspect here
        fields = [name for name in annotations if name[0] != "_"]
        known = frozenset(fields)
        defaults = {name: cls.__dict__[name] for name in fields if name in cls.__dict__}

        missing_default = object()

        def generic_init(self: object, *args: object, **kwargs: object) -> None:
            # Binds like the generated __init__ below, at ~4 us a call. Compiling that one costs
            # ~75 us a class, more than a short-lived start-up with a few fds ever saves: the
            # activated path gets this one; a class instantiated often gets the fast one.
            calls[0] += 1
            if calls[0] >= _SPECIALISE_AFTER:
                cls.__init__ = _specialised_init(fields, defaults)
            if len(args) > len(fields):
                raise TypeError(
                    f"{cls.__name__}() takes {len(fields)} positional arguments "
                    f"but {len(args)} were given"
                )
            values = dict(zip(fields, args, strict=False))
            for name, value in kwargs.items():
                if name not in known:
                    raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
                if name in values:
                    raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
                values[name] = value
            d = self.__dict__
            for name in fields:
                value = values.get(name, defaults.get(name, missing_default))
                if value is missing_default:
                    raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
                d[name] = value

        calls = [0]
        __init__ = generic_init

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
        if "__repr__" not in cls.__dict__:  # a class may say it better (ListenAddress)
            cls.__repr__ = __repr__
        cls.__match_args__ = tuple(fields)
        return cls
