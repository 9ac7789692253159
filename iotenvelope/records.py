"""Value classes without :mod:`dataclasses`: :class:`Frozen` (immutable) and :class:`Record` (mutable).

``dataclasses`` imports :mod:`inspect` (with ``ast``, ``dis``, ``tokenize``): about 7-10 ms, a third of what a
one-shot ``iotenvelope seal`` would otherwise spend importing (issue 16 item 2), so the modules a seal, an open
or the CLI's parser load use these instead. A class lists its fields in ``FIELDS``, pairs of name and default
(:data:`REQUIRED` for none, :class:`Factory` for a fresh default per value), and those left out of its repr
in ``HIDDEN``. It gets what ``@dataclass`` would give it: an ``__init__`` taking the fields by position or
name and then calling ``__post_init__``, and ``__repr__``, ``__eq__`` over the fields; :class:`Frozen` adds
``__hash__`` and refuses to set or delete attributes.
"""

from __future__ import annotations

#: the default of a field that has none
REQUIRED = object()


class Factory:
    """A field default made anew for each value (``Factory(list)``, like ``field(default_factory=list)``)."""

    __slots__ = ("make",)

    def __init__(self, make) -> None:
        self.make = make


class FrozenError(AttributeError):
    """Raised on an attempt to set or delete an attribute of a :class:`Frozen` value."""


class Record:
    """Base class of mutable values: see the module docstring."""

    FIELDS: tuple = ()
    HIDDEN: frozenset = frozenset()

    def __init__(self, *args: object, **kwargs: object) -> None:
        fields = type(self).FIELDS
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes at most {len(fields)} positional arguments, got {len(args)}")
        attrs = self.__dict__
        for (name, _), value in zip(fields, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
            attrs[name] = value
        for name, default in fields[len(args):]:
            if name in kwargs:
                attrs[name] = kwargs.pop(name)
            elif default is REQUIRED:
                raise TypeError(f"{type(self).__name__}() missing required argument {name!r}")
            else:
                attrs[name] = default.make() if isinstance(default, Factory) else default
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")
        self.__post_init__()

    def __post_init__(self) -> None:
        """Checks of the fields (subclasses)."""

    def _values(self) -> tuple:
        attrs = self.__dict__
        return tuple(attrs[name] for name, _ in type(self).FIELDS)

    def __repr__(self) -> str:
        hidden = type(self).HIDDEN
        shown = ", ".join(f"{name}={self.__dict__[name]!r}" for name, _ in type(self).FIELDS if name not in hidden)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as a @dataclass


class Frozen(Record):
    """Base class of immutable values. Code that builds one from fields it has already checked may fill
    ``__dict__`` directly (``object.__new__`` then ``obj.__dict__[name] = value``)."""

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


__all__ = ["REQUIRED", "Factory", "FrozenError", "Record", "Frozen"]
