"""Plugin discovery and loading (pluggy + entry points), lazily and once.

Block lists (``-p no:NAME``, ``HBK_DISABLE_PLUGINS=a,b``) are applied before a plugin module is
imported. A plugin that fails to import or to register is reported and listed as broken; the
others keep working unless strict mode (``--strict-plugins``, ``HBK_STRICT_PLUGINS=1``) is on.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import attrs
import pluggy
from importlib_metadata import entry_points

from hyperbox.kernel import hookspecs
from hyperbox.kernel.errors import PluginError
from hyperbox.kernel.registry import KINDS, Registry

ENTRY_POINT_GROUP = "hyperbox.plugins"
#: Internal plugins: built-in components registered through the same hooks.
INTERNAL_PLUGINS = {"kernel": "hyperbox.kernel.builtin"}


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; it is listed as broken by ``hbk plugins``."""


@attrs.define
class PluginInfo:
    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "ok"  # ok | broken | disabled
    error: str | None = None
    internal: bool = False
    registers: dict[str, list[str]] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class PluginManager:
    """Finds, loads and asks the plugins to register their components."""

    def __init__(self, disabled: Iterable[str] = (), strict: bool | None = None) -> None:
        self.disabled = set(disabled) | set(_env_list("HBK_DISABLE_PLUGINS"))
        self.strict = _env_flag("HBK_STRICT_PLUGINS") if strict is None else strict
        self.pm = pluggy.PluginManager("hyperbox")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._registry: Registry | None = None
        self._loaded = False

    @property
    def hook(self):
        """Hook callers, for lifecycle hooks (plugins are loaded first)."""
        self.load()
        return self.pm.hook

    @property
    def registry(self) -> Registry:
        """Every registered component (plugins are loaded and asked to register on first use)."""
        if self._registry is None:
            self.load()
            registry = Registry()
            for kind in KINDS:
                self._call_register_hook(kind, registry)
            self._registry = registry
        return self._registry

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name, module in INTERNAL_PLUGINS.items():
            self._load_one(name, module, loader=lambda module=module: _import(module), internal=True)
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            self._load_one(
                entry_point.name,
                entry_point.value,
                loader=entry_point.load,
                distribution=entry_point.dist.name if entry_point.dist else None,
                version=entry_point.dist.version if entry_point.dist else None,
            )
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            name = self.pm.get_name(error.plugin)
            raise PluginError(f"plugin {name!r}: {str(error).split(' in plugin ')[0]} (misspelt hook name?)") from None
        if _env_flag("HBK_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(lambda message: sys.stderr.write(message))
            self.pm.enable_tracing()

    def _load_one(self, name: str, module: str, loader, internal: bool = False, **dist: Any) -> None:
        if name in self.plugins:
            return  # the same distribution seen twice on sys.path
        info = PluginInfo(name=name, module=module, internal=internal, **dist)
        self.plugins[name] = info
        if name in self.disabled:
            info.status = "disabled"
            self.pm.set_blocked(name)
            return
        try:
            plugin = loader()
            self.pm.register(plugin, name=name)
        except Exception as error:  # a broken third-party plugin must not take the others down
            self._mark_broken(info, f"{type(error).__name__}: {error}")

    def _mark_broken(self, info: PluginInfo, error: str) -> None:
        info.status, info.error = "broken", error
        if self.strict:
            raise PluginError(f"plugin {info.name!r} failed to load: {error}")
        warnings.warn(f"plugin {info.name!r} failed to load: {error}", PluginLoadWarning, stacklevel=3)
        plugin = self.pm.get_plugin(info.name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def _call_register_hook(self, kind: str, registry: Registry) -> None:
        caller = getattr(self.pm.hook, f"hyperbox_register_{kind}")
        # Each implementation is called on its own so that a registration names its plugin; what it
        # registers counts only once the hook returns, and a plugin that fails keeps nothing.
        for impl in reversed(caller.get_hookimpls()):
            info = self.plugins[impl.plugin_name]
            staged: list[tuple[str, Any, str | None]] = []

            def register(name, factory, help=None, _staged=staged):
                _staged.append((name, factory, help))

            try:
                impl.function(register=register)
            except Exception as error:
                registry.remove_plugin(info.name)
                info.registers.clear()
                self._mark_broken(info, f"{type(error).__name__} in hyperbox_register_{kind}: {error}")
                continue
            for name, factory, help in staged:
                registry.register(kind, name, factory, plugin=info.name, help=help)
                info.registers.setdefault(kind, []).append(name)

    def infos(self, include_internal: bool = False) -> list[PluginInfo]:
        self.registry  # registration fills ``registers``
        return [info for info in self.plugins.values() if include_internal or not info.internal]


def _import(module: str) -> ModuleType:
    import importlib

    return importlib.import_module(module)


_manager: PluginManager | None = None


def get_manager() -> PluginManager:
    """The process-wide plugin manager (created on first use with the environment's settings)."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def configure(disabled: Iterable[str] = (), strict: bool | None = None) -> PluginManager:
    """Replace the process-wide manager (the CLI calls this with ``-p no:NAME`` and ``--strict-plugins``)."""
    global _manager
    _manager = PluginManager(disabled=disabled, strict=strict)
    return _manager


def get_registry() -> Registry:
    return get_manager().registry
