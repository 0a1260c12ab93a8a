"""One registry pattern for every pluggable concept: segmenters, datasets, methods.

A :class:`Registry` maps a lower-case name to a factory (a class or a function).
Registering a name twice is an error (as timm's ``@register_model`` warns), and
looking up an unknown name raises a ``ValueError`` that lists what exists.

Example:
    >>> from segaug.registry import Registry
    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register("square")
    ... def make_square(side: int = 2) -> list[int]:
    ...     return [side, side]
    >>> SHAPES.create("square", side=3)
    [3, 3]
    >>> SHAPES.names()
    ['square']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class Registry(Generic[T]):
    """A name -> factory table for one kind of thing.

    Args:
        kind: What the registry holds, used in error messages ("segmenter").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``factory`` under ``name``.

        Raises:
            ValueError: If ``name`` is already registered or is not a lower-case identifier.
        """
        key = name.strip().lower()
        if not key or key != name:
            raise ValueError(f"{self.kind} name must be lower-case and non-empty, got {name!r}")

        def decorator(factory: T) -> T:
            if key in self._entries:
                raise ValueError(
                    f"{self.kind} {key!r} is already registered "
                    f"(by {self._entries[key].__module__}.{self._entries[key].__qualname__})"
                )
            self._entries[key] = factory
            return factory

        return decorator

    def get(self, name: str) -> T:
        """Return the factory registered under ``name``.

        Raises:
            ValueError: If ``name`` is unknown; the message lists the known names.
        """
        if not isinstance(name, str) or name.lower() not in self._entries:
            raise ValueError(
                f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}"
            )
        return self._entries[name.lower()]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build the thing registered under ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
