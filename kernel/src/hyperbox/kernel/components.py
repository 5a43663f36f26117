"""Components from what a user gives: an object, a class or factory, a registered name, or
``{name: ..., **arguments}``. The engine and the experiment files resolve them the same way, so a
Python script and a YAML file get the same components and the same one-line errors."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from hyperbox.kernel.config import INJECTED, ComponentSpec, check_arguments, component_of
from hyperbox.kernel.errors import ConfigError, HyperboxError
from hyperbox.kernel.registry import Registry
from hyperbox.kernel.space import is_mutable

__all__ = ["Resolver", "call_with", "is_spec"]


def call_with(factory: Any, args: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    """Call ``factory(**args)`` adding those ``extra`` arguments it accepts and ``args`` lacks."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in extra.items() if (k in parameters or takes_any) and k not in args}
    return factory(**args, **kwargs)


def is_spec(value: Any) -> bool:
    """A registered name or ``{name: ..., **arguments}`` (rather than an object)."""
    return isinstance(value, (str, ComponentSpec)) or isinstance(value, Mapping) and "name" in value


def augmentation_spec(value: Any, where: str) -> Any:
    """What ``augment: VALUE`` names: None for ``none``, ``{name: policy, path: FILE}`` for a JSON
    file, a spec for a name, a callable as it is; an empty value is an error (``none`` says it)."""
    if value == "none":
        return None
    if value is None or value == "":
        raise ConfigError(
            f"{where}: names nothing; write none for no augmentation, or an augmentation name, "
            "{name: ..., **arguments} or a policy .json file"
        )
    if isinstance(value, str) and value.endswith(".json"):
        return ComponentSpec("policy", {"path": value})
    if is_spec(value):
        return component_of(value, where)
    if callable(value):
        return value
    raise ConfigError(
        f"{where}: expected none, an augmentation name, {{name: ..., **arguments}}, a policy .json file or a "
        f"callable, got {value!r}"
    )


def _is_space(value: Any) -> bool:
    """A model or parameter set to search (rather than a factory of one)."""
    if inspect.isclass(value):
        return False
    return hasattr(value, "named_modules") or callable(getattr(value, "mutables", None)) or is_mutable(value)


class Resolver:
    """Resolves components of each kind (``spaces``, ``mutators``, ``trainers``, ``estimators``,
    ``datasets``); registered names are looked up in the registry the ``registry`` callable
    returns, called only when a name is used."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    @functools.cached_property
    def registry(self) -> Registry:
        return self._registry()

    def factory(self, kind: str, spec: ComponentSpec, where: str) -> Any:
        """The registered factory of ``spec``, its arguments checked against the signature."""
        try:
            factory = self.registry.get(kind, spec.name).load()
        except HyperboxError as error:
            raise ConfigError(f"{where}: {error}") from None
        except ImportError as error:
            raise ConfigError(f"{where}: {kind[:-1]} {spec.name!r} cannot be imported ({error})") from None
        check_arguments(factory, spec.args, where, INJECTED[kind])
        if kind == "trainers" and "augment" in spec.args:  # named before anything is built
            augment = augmentation_spec(spec.args["augment"], f"{where}.augment")
            if isinstance(augment, ComponentSpec):
                self.factory("augmentations", augment, f"{where}.augment")
        return factory

    def build(self, kind: str, value: Any, extra: Mapping[str, Any], where: str, *, prefix: tuple = ()) -> Any:
        """``value`` as a component: a name or spec is built by its registered factory, a class or
        factory (``factory``-like ``value``) is called; ``prefix`` arguments come first."""
        if is_spec(value):
            spec = component_of(value, where)
            factory, args, label = self.factory(kind, spec, where), spec.args, f"{where} {spec.name!r}"
        else:
            factory, args, label = value, {}, where
        try:
            return call_with(functools.partial(factory, *prefix) if prefix else factory, args, extra)
        except HyperboxError:
            raise
        except (ValueError, TypeError, FileNotFoundError) as error:
            raise ConfigError(f"{label}: {error}") from error

    # -- each kind --------------------------------------------------------------------------------
    def space(self, value: Any, shape: Mapping[str, Any], where: str = "space") -> Any:
        """A model with mutables, a parameter set, or what builds one (given the data's ``shape``)."""
        if value is None:
            raise ConfigError(f"{where}: missing (a model with mutables, or a registered space)")
        if _is_space(value):
            model = value
        else:
            # a space made of another registered space (``augmented``) builds it with this resolver
            extra = {**shape, "build_space": lambda spec: self.space(spec, shape, f"{where}: network")}
            model = self._built("spaces", value, extra, where)
        if not _is_space(model):
            raise ConfigError(f"{where}: {type(model).__name__} is not a model with mutables")
        return model  # without mutables, a space of one architecture: the search trains it once

    def mutator(self, value: Any, model: Any, extra: Mapping[str, Any], where: str = "mutator") -> Any:
        """A mutator instance, or one built on ``model`` (``factory(model, seed=..., **arguments)``)."""
        from hyperbox.kernel.mutator import Mutator

        if isinstance(value, Mutator):
            if value.model is not model:
                raise ConfigError(f"{where}: {type(value).__name__} searches another model than the search's space")
            return value
        mutator = self._built("mutators", value, extra, where, prefix=(model,))
        if not isinstance(mutator, Mutator):
            raise ConfigError(f"{where}: {type(mutator).__name__} is not a hyperbox.kernel.Mutator")
        return mutator

    def trainer(
        self,
        value: Any,
        where: str = "trainer",
        arguments: Mapping[str, Any] | None = None,
        shape: Mapping[str, Any] | None = None,
    ) -> Any:
        """A trainer (an object with ``trial(model, arch, data, context)``); ``arguments`` update a
        spec's arguments or are given to a class. An ``augment`` argument naming an augmentation
        is built (with the data's ``shape``) and given to the trainer as its batch transform."""
        if arguments:
            if is_spec(value):
                spec = component_of(value, where)
                value = ComponentSpec(spec.name, {**spec.args, **arguments})
            elif not inspect.isclass(value):
                raise ConfigError(f"{where}: searched trainer arguments need a trainer name, spec or class")
        arguments = dict(arguments or {})
        if is_spec(value):
            spec = component_of(value, where)
            if "augment" in spec.args:
                self.factory("trainers", spec, where)  # unknown trainers and arguments first
                args = dict(spec.args)
                augment = self.augmentation(args.pop("augment"), shape or {}, f"{where}.augment")
                value = ComponentSpec(spec.name, args if augment is None else {**args, "augment": augment})
        elif "augment" in arguments:
            arguments["augment"] = self.augmentation(arguments["augment"], shape or {}, f"{where}.augment")
        trainer = self._built("trainers", value, arguments, where)
        if not callable(getattr(trainer, "trial", None)):
            raise ConfigError(f"{where}: {type(trainer).__name__} has no trial(model, arch, data, context) method")
        return trainer

    def augmentation(self, value: Any, shape: Mapping[str, Any], where: str = "augment") -> Any:
        """A batch transform: None for ``none``, a registered augmentation by name or spec (a
        ``.json`` file is the ``policy`` augmentation of that file), or a callable as it is."""
        spec = augmentation_spec(value, where)
        if spec is None:
            return None
        if not is_spec(spec):
            return spec
        transform = self.build("augmentations", spec, shape, where)
        if not callable(transform):
            raise ConfigError(f"{where}: {type(transform).__name__} is not a batch transform (a callable)")
        return transform

    def estimator(self, value: Any, where: str) -> Any:
        """An estimator: a callable ``estimator(model, data, context) -> {metric: number}``."""
        estimator = self._built("estimators", value, {}, where)
        if not callable(estimator):
            raise ConfigError(f"{where}: {type(estimator).__name__} is not callable as estimator(model, data, context)")
        return estimator

    def dataset(self, value: Any, seed: int, where: str = "dataset") -> Any:
        """The data handed to trainers and estimators (a name or spec is built with ``seed``)."""
        return self._built("datasets", value, {"seed": seed}, where)

    def _built(self, kind: str, value: Any, extra: Mapping[str, Any], where: str, prefix: tuple = ()) -> Any:
        """Build names, specs and classes; other objects (functions for spaces and mutators,
        which are factories there) are taken as they are."""
        factory_kinds = ("spaces", "mutators")
        if is_spec(value) or inspect.isclass(value) or (kind in factory_kinds and callable(value)):
            return self.build(kind, value, extra, where, prefix=prefix)
        return value
