"""The component registry filled by the registration hooks."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

import attrs

from hyperbox.kernel.errors import PluginError, UnknownComponentError

KINDS = (
    "spaces",
    "mutators",
    "estimators",
    "trainers",
    "datasets",
    "storages",
    "blocks",
    "augmentations",
    "commands",
)


@attrs.define
class Component:
    """One registered component; ``target`` is a callable or a lazy ``"module:attr"`` string."""

    kind: str
    name: str
    target: Callable | str
    plugin: str
    help: str | None = None
    _loaded: Any = attrs.field(default=None, init=False, repr=False)

    def load(self) -> Callable:
        if self._loaded is None:
            if callable(self.target):
                self._loaded = self.target
            else:
                module_name, _, attr = self.target.partition(":")
                obj: Any = importlib.import_module(module_name)
                for part in attr.split(".") if attr else ():
                    obj = getattr(obj, part)
                self._loaded = obj
        return self._loaded

    @property
    def summary(self) -> str:
        """``help`` or the first line of the docstring (the latter only if already imported)."""
        if self.help:
            return self.help
        doc = getattr(self._loaded or (self.target if callable(self.target) else None), "__doc__", None)
        return (doc or "").strip().split("\n")[0]


class Registry:
    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def register(self, kind: str, name: str, factory: Callable | str, plugin: str, help: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {kind[:-1]} with an invalid name {name!r}")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise PluginError(f"plugin {plugin!r}: {kind[:-1]} {name!r} needs a callable or a 'module:attr' string")
        existing = self._components[kind].get(name)
        if existing is not None:
            raise PluginError(
                f"{kind[:-1]} {name!r} is registered by both plugin {existing.plugin!r} and plugin {plugin!r}"
            )
        self._components[kind][name] = Component(kind, name, factory, plugin, help)

    def remove_plugin(self, plugin: str) -> None:
        """Forget every component ``plugin`` registered (it turned out broken)."""
        for components in self._components.values():
            for name in [name for name, c in components.items() if c.plugin == plugin]:
                del components[name]

    def get(self, kind: str, name: str) -> Component:
        components = self._components[kind]
        if name not in components:
            raise UnknownComponentError(unknown_name_message(kind[:-1], name, components))
        return components[name]

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def components(self, kind: str) -> list[Component]:
        return [self._components[kind][name] for name in self.names(kind)]


def unknown_name_message(what: str, name: Any, known) -> str:
    known = sorted(known)
    message = f"unknown {what} {name!r}; registered: {', '.join(known) if known else '(none)'}"
    close = difflib.get_close_matches(str(name), known, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")
