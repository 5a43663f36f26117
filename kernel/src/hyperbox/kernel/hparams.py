"""Plain hyper-parameters as a search space (torch-free), declared in the experiment file::

    space:
      name: hparams
      params:
        lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
        optimizer: {choices: [sgd, adam]}      # or simply [sgd, adam]
        layers: {type: int, low: 1, high: 4}
        augment: {type: subset, choices: [flip, crop, jitter], k: 2}

Each entry becomes one kernel mutable keyed by its name, so any mutator searches it, and it can
sit next to an architecture's mutables for a joint search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hyperbox.kernel import Categorical, ConfigError, FloatRange, IntRange, Mutable, Subset

__all__ = ["HyperParameter", "HyperParameters"]

_FIELDS = {
    "float": {"type", "low", "high", "log"},
    "int": {"type", "low", "high", "step"},
    "categorical": {"type", "choices"},
    "subset": {"type", "choices", "k"},
}


class HyperParameter(Mutable):
    """One searchable hyper-parameter; ``choices`` holds the values of a categorical or subset."""

    def __init__(self, key: str, domain: Any, choices: tuple | None = None) -> None:
        self.choices = choices
        self.init_mutable(key, domain)

    @property
    def value(self) -> Any:
        """The chosen value: a number, a choice, or a list of choices for a subset."""
        return None if self.decision is None else self.value_of(self.decision)

    def extremes(self) -> list[Any]:
        """Values that stand for all the others when checking types: every choice, or the bounds."""
        if isinstance(self.domain, Subset):
            return [list(self.choices)]
        if isinstance(self.domain, Categorical):
            return list(self.choices)
        return [self.domain.low, self.domain.high]

    def value_of(self, decision: Any) -> Any:
        """The value a decision (canonical or JSON form) stands for."""
        decision = self.domain.normalize(decision, self.key)
        if isinstance(self.domain, Subset):
            return [self.choices[i] for i in decision]
        if isinstance(self.domain, Categorical):
            return self.choices[decision]
        return decision


class HyperParameters:
    """A search space of named hyper-parameters built from a mapping ``name -> spec``.

    A spec is a mapping with ``type`` (``float``, ``int``, ``categorical`` or ``subset``; a
    mapping with ``choices`` and no type is categorical) and that type's fields, or a plain list
    of choices. Numbers written as strings (YAML reads ``1e-4`` as one) are accepted.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping) or not params:
            raise ConfigError("hyper-parameters: expected a non-empty mapping name -> spec")
        self._params = {str(name): _parse(str(name), spec) for name, spec in params.items()}
        #: the specs as given
        self.specs = {str(name): spec for name, spec in params.items()}

    def mutables(self) -> list[HyperParameter]:
        return list(self._params.values())

    def values(self) -> dict[str, Any]:
        """``name -> chosen value`` (labels for categoricals); None for a value not chosen yet."""
        return {name: param.value for name, param in self._params.items()}

    def values_of(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """``name -> value`` that an architecture (JSON form) chooses for these hyper-parameters."""
        return {name: param.value_of(arch[name]) for name, param in self._params.items() if name in arch}

    def items(self) -> list[tuple[str, HyperParameter]]:
        return list(self._params.items())

    def __getitem__(self, name: str) -> HyperParameter:
        return self._params[name]


def _parse(name: str, spec: Any) -> HyperParameter:
    where = f"hyper-parameter {name!r}"
    if isinstance(spec, (list, tuple)):
        spec = {"choices": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'type' or a list of choices, got {spec!r}")
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in _FIELDS:
        raise ConfigError(f"{where}: type {kind!r} is not one of {', '.join(_FIELDS)}")
    unknown = sorted(set(spec) - _FIELDS[kind])
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown} for type {kind} (takes {sorted(_FIELDS[kind])})")
    try:
        if kind in ("categorical", "subset"):
            choices = spec.get("choices")
            if not isinstance(choices, (list, tuple)) or not choices:
                raise ValueError("'choices' must be a non-empty list")
            if kind == "subset":
                k = None if spec.get("k") is None else _number(spec, "k", int)
                return HyperParameter(name, Subset(len(choices), k, labels=choices), tuple(choices))
            return HyperParameter(name, Categorical(len(choices), labels=choices), tuple(choices))
        if kind == "int":
            step = _number(spec, "step", int) if "step" in spec else 1
            return HyperParameter(name, IntRange(_number(spec, "low", int), _number(spec, "high", int), step))
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ValueError(f"'log' must be true or false, got {log!r}")
        return HyperParameter(name, FloatRange(_number(spec, "low", float), _number(spec, "high", float), log))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None


def _number(spec: Mapping[str, Any], field: str, kind: type) -> Any:
    if field not in spec:
        raise ValueError(f"missing {field!r}")
    value = spec[field]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field!r} must be a number, got {value!r}") from None
    if kind is int and not number.is_integer():
        raise ValueError(f"{field!r} must be an integer, got {value!r}")
    return kind(number)
