"""A name -> factory registry, the one mechanism behind ``problems`` and ``estimators``."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named factories plus a ``register`` decorator; no other magic.

    ``kind`` is the word used in error messages ("problem", "estimator").  With
    ``names_class=True`` registering a class also sets its ``name`` class attribute, so
    the id is written once (``@register("stde-jax")``, never ``name = "stde-jax"`` too).
    """

    def __init__(self, kind: str, *, names_class: bool = False) -> None:
        self.kind = kind
        self.names_class = names_class
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@REGISTRY.register("stde-jax")`` above a class or factory."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.names_class and isinstance(factory, type):
                factory.name = name
            self._factories[name] = factory
            return factory

        return decorate

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._factories)

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; ValueError naming the valid ones otherwise."""
        try:
            return self._factories[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), self._factories, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: "
                + ", ".join(self._factories)
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._factories
