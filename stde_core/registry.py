"""A name -> factory registry, the one mechanism behind ``problems`` and ``estimators``.

Besides the built-ins (registered with ``@register("<id>")`` when their module is
imported) a registry holds *plugins*, from code outside this repository:

- **entry points** of the registry's ``group`` (``stde_bench.estimators``,
  ``stde_bench.problems``) in any installed distribution, e.g. in its pyproject.toml::

      [project.entry-points."stde_bench.estimators"]
      fd-laplacian-example = "fd_laplacian_example:FiniteDifferenceLaplacian"

  The entry point's name is the id.  They are discovered on the first ``names()``,
  ``factory()`` or ``in`` (reading metadata only) and each is imported when it is first
  looked up.
- **one-offs** named ``module:attribute`` (e.g. ``stde-bench run --estimator mypkg.est:MyEst``):
  ``factory("mypkg.est:MyEst")`` imports it and registers it under that string, which is
  then its id everywhere (records, reports).

A plugin that cannot be imported, or that breaks the registry's contract (``check``),
raises a ValueError naming the plugin and where it came from.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib import metadata
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: checks a plugin's factory before it is registered; raises ValueError(what is wrong)
Check = Callable[[Callable[..., Any]], None]


class Registry(Generic[T]):
    """A dict of named factories plus a ``register`` decorator, and the plugins above.

    ``kind`` is the word used in error messages ("problem", "estimator").  With
    ``names_class=True`` registering a class also sets its ``name`` class attribute, so
    the id is written once (``@register("stde-jax")``, never ``name = "stde-jax"`` too).
    ``group`` is the entry-point group of plugins (None: no entry points); ``check`` is
    run on every plugin's factory (never on the built-ins, which the tests cover).
    """

    def __init__(
        self,
        kind: str,
        *,
        names_class: bool = False,
        group: str | None = None,
        check: Check | None = None,
    ) -> None:
        self.kind = kind
        self.names_class = names_class
        self.group = group
        self.check = check
        self._factories: dict[str, Callable[..., T]] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None  # not yet loaded

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@REGISTRY.register("stde-jax")`` above a class or factory."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.names_class and isinstance(factory, type):
                if factory.__dict__.get("name") not in (None, "", name):
                    # a class registered under a second id (its entry point and
                    # ``module:attribute``): a subclass carries the second name
                    attributes = {
                        "__module__": factory.__module__,
                        "__qualname__": factory.__qualname__,
                    }
                    factory = type(factory.__name__, (factory,), attributes)
                factory.name = name
            self._factories[name] = factory
            return factory

        return decorate

    def names(self) -> list[str]:
        """Registered names, in registration order, then the entry-point plugins."""
        plugins = self._discover()
        return list(self._factories) + [n for n in plugins if n not in self._factories]

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (importing a plugin on first use);
        ValueError naming the valid ones otherwise."""
        if isinstance(name, str) and name not in self._factories:
            plugin = self._discover().get(name)
            if plugin is not None:
                source = f"entry point {plugin.name!r} = {plugin.value!r}{_from(plugin)}"
                self._load(name, plugin.load, source, "fix or uninstall the package")
            elif ":" in name:
                hint = "is the module installed, or its folder on PYTHONPATH?"
                self._load(name, lambda: _import_attribute(name), repr(name), hint)
        try:
            return self._factories[name]
        except (KeyError, TypeError):
            valid = self.names()
            close = difflib.get_close_matches(str(name), valid, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: "
                + ", ".join(valid)
                + " (or a plugin named 'module:attribute')."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._factories or name in self._discover()

    def discover_plugins(self) -> None:
        """Read the entry points again (e.g. after installing a plugin in this process)."""
        self._entry_points = None

    def _discover(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            points = metadata.entry_points(group=self.group) if self.group else ()
            for point in points:
                other = found.get(point.name)
                if other is not None and other.value != point.value:
                    raise ValueError(
                        f"two {self.kind} plugins are named {point.name!r}: "
                        f"{other.value!r}{_from(other)} and {point.value!r}{_from(point)}; "
                        "uninstall one or rename its entry point"
                    )
                found[point.name] = point
            self._entry_points = found
        return self._entry_points

    def _load(self, name: str, load: Callable[[], Any], source: str, hint: str) -> None:
        """Import a plugin, check its contract and register it under ``name``."""
        where = f"{self.kind} plugin {source}"
        try:
            factory = load()
        except Exception as err:
            raise ValueError(
                f"{where} could not be imported: {type(err).__name__}: {err} ({hint})"
            ) from err
        if not callable(factory):
            raise ValueError(f"{where} is {factory!r}, not a class or factory")
        if self.check is not None:
            try:
                self.check(factory)
            except Exception as err:
                what = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
                raise ValueError(f"{where} breaks the {self.kind} contract: {what}") from err
        self.register(name)(factory)


def _import_attribute(spec: str) -> Any:
    """``"package.module:Attribute.inner"`` -> the object."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _from(point: metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return f" (from {dist.name} {dist.version})" if dist is not None else ""
