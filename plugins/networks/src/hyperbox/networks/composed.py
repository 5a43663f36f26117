"""Networks composed from registered blocks, as Vega's fine-grained spaces (``FineGrainedSpace``).

An experiment describes the network as modules run in order, each ``{type: BLOCK, argument:
value, ...}`` naming a registered block (``hbk list blocks``); a nested ``{type: BLOCK, ...}``
argument (``block: {type: BasicBlock}``) is handed to its block as a factory of that block. A
module that is a *process* (an object with ``apply(network)``, such as ``Quant`` or ``Prune``)
transforms the network built so far instead of following it. ``hyper_parameters`` makes any
nested argument a decision, keyed by its dotted path (``layer.doublechannel``):

- a list of values: one of them (``head.num_class: [10, 100]``);
- ``{type: int|float, low: L, high: H}`` (``step``, ``log`` as for hyper-parameters): a range;
- the seed's single list of 0 and 1 for an argument that is such a list
  (``layer.doublechannel: [0, 1, 1, 0, 1, 0, 0, 1]``): where its ones go, their number kept (so
  that, as in Vega's backbone search, the channels at the end stay what the head expects);
- ``{each: SPEC}`` for an argument that is a list: one decision per entry, each as ``SPEC`` says,
  keyed ``KEY.0``, ``KEY.1``, ... (``process.nbit_w_list: {each: [4, 8]}``, a bit width per layer,
  as Vega's quantisation search).

A key may address one entry of a list by its index (``process.chn_mask.3``, a pruning mask's row).

The network is built for each architecture (no weights are shared between two; only the last one
built is kept); ``build_subnet`` returns the plain network of the current decisions.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from hyperbox.kernel import Categorical, FloatRange, HyperboxError, IntRange, Mutable, Subset

__all__ = ["ComposedNetwork", "Positions", "compose"]


class Positions(nn.Module, Mutable):
    """Where the ones of a 0/1 list go, their number kept; ``value`` is the list."""

    def __init__(self, key: str, initial: Sequence[int]) -> None:
        super().__init__()
        self.length = len(initial)
        self.init_mutable(key, Subset(self.length, sum(initial)))

    @property
    def value(self) -> list[int]:
        return [int(i in self.decision) for i in range(self.length)]


class _Decision(nn.Module, Mutable):
    """A hyper-parameter of a composed network: one of ``choices``, or a number in a range."""

    def __init__(self, key: str, domain: Any, choices: Sequence[Any] | None = None) -> None:
        super().__init__()
        self.choices = None if choices is None else list(choices)
        self.init_mutable(key, domain)

    @property
    def value(self) -> Any:
        return self.decision if self.choices is None else self.choices[self.decision]


class ComposedNetwork(nn.Module):
    """``modules`` built in order from ``entries`` (module name -> ``{type: ..., ...}``), with the
    arguments ``hyper_parameters`` addresses searched (see the module's documentation).
    ``blocks(name)`` is the factory of a registered block; ``in_channels`` (the dataset's) goes to
    the first module when it takes that argument and the description does not give it."""

    builds_per_architecture = True

    def __init__(
        self,
        modules: Sequence[str],
        entries: Mapping[str, Any],
        blocks: Callable[[str], Callable[..., Any]],
        hyper_parameters: Mapping[str, Any] | None = None,
        in_channels: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(modules, str) or not isinstance(modules, Sequence) or not modules:
            raise ValueError(f"modules: expected a list of module names, got {modules!r}")
        missing = [name for name in modules if not isinstance(entries.get(name), Mapping)]
        if missing:
            raise ValueError(f"modules: {missing[0]!r} has no description ({{type: BLOCK, ...}}) beside modules")
        unused = sorted(set(entries) - set(modules))
        if unused:
            raise ValueError(f"{unused[0]}: not one of modules {list(modules)}")
        for name in modules:
            if "type" not in entries[name]:
                raise ValueError(f"{name}: type: missing (the registered block to build)")
        self.module_names = list(modules)
        self._config = copy.deepcopy({name: dict(entries[name]) for name in modules})
        self._blocks = blocks
        self._in_channels = in_channels
        keys = sorted(map(str, hyper_parameters or {}))
        for shorter, longer in zip(keys, keys[1:]):
            if longer.startswith(shorter + "."):
                raise ValueError(f"hyper_parameters: {longer}: lies inside {shorter}, searched already")
        self.decisions = nn.ModuleList(
            _decision(key, spec, current)
            for name, given in (hyper_parameters or {}).items()
            for key, spec, current in _entries(str(name), given, self._argument_at(str(name)))
        )
        #: the network of the architecture met last (only it: the space is copied for every trial)
        self.current: nn.Module | None = None
        self._current_values: tuple | None = None
        self._build_network(self._config)  # the description as written: what cannot build fails here, not in a trial

    def _argument_at(self, key: str) -> Any:
        """The value the description gives the argument ``key`` addresses (None: the block's default)."""
        names = key.split(".")
        if names[0] not in self._config or len(names) < 2:
            raise ValueError(
                f"hyper_parameters: {key}: addresses no argument (a module's argument: MODULE.ARGUMENT, "
                f"modules {self.module_names})"
            )
        node: Any = self._config[names[0]]
        for depth, name in enumerate(names[1:], start=1):
            if isinstance(node, Mapping) and name in node:
                node = node[name]
            elif _is_list(node) and name.isdigit() and int(name) < len(node):
                node = node[int(name)]
            elif (
                depth == len(names) - 1
                and isinstance(node, Mapping)
                and "type" in node
                and _takes(self._factory(node, ".".join(names[:depth])), name)
            ):
                return None
            elif isinstance(node, Mapping) and "type" not in node:
                raise ValueError(
                    f"hyper_parameters: {key}: {'.'.join(names[:depth])} has no key {name!r} (its keys: "
                    f"{', '.join(map(str, node))})"
                )
            elif _is_list(node):
                raise ValueError(
                    f"hyper_parameters: {key}: {name!r} is not an index of the {len(node)} entries of "
                    f"{'.'.join(names[:depth])}"
                )
            else:
                owner = node.get("type", "?") if isinstance(node, Mapping) else type(node).__name__
                raise ValueError(f"hyper_parameters: {key}: addresses no argument of {owner!r}")
        return node

    def _factory(self, spec: Mapping[str, Any], where: str = "") -> Callable[..., Any]:
        try:
            return self._blocks(spec["type"])
        except HyperboxError as error:  # an unregistered type: the message names the closest one
            raise ValueError(f"{where + ': ' if where else ''}type: {error}") from None

    def values(self) -> dict[str, Any]:
        """The searched arguments' current values, by dotted key."""
        return {decision.key: decision.value for decision in self.decisions}

    def description(self) -> dict[str, Any]:
        """The network's description with the current decisions in place."""
        config = copy.deepcopy(self._config)
        for key, value in self.values().items():
            names = key.split(".")
            node = config
            for name in names[:-1]:
                node = node[int(name)] if _is_list(node) else node[name]
            node[int(names[-1]) if _is_list(node) else names[-1]] = value
        return config

    def network(self) -> nn.Module:
        """The network of the current decisions, built when they change."""
        chosen = tuple(decision.decision for decision in self.decisions)  # canonical, cheap on every forward
        if self.current is None or chosen != self._current_values:
            self.current = self._build_network(self.description()).train(self.training)
            self._current_values = chosen
        return self.current

    def _build_network(self, config: Mapping[str, Any]) -> nn.Module:
        layers: list[nn.Module] = []
        for index, name in enumerate(self.module_names):
            spec = dict(config[name])
            if index == 0 and self._in_channels is not None and "in_channels" not in spec:
                if _takes(self._factory(spec, name), "in_channels"):
                    spec["in_channels"] = self._in_channels
            built = self._build(spec, name)
            if not isinstance(built, nn.Module) and callable(getattr(built, "apply", None)):
                try:  # a process: it transforms what is built
                    layers = [built.apply(nn.Sequential(*layers))]
                except (TypeError, ValueError) as error:
                    raise ValueError(f"{name} ({spec['type']}): {error}") from None
            elif isinstance(built, nn.Module):
                layers.append(built)
            else:
                raise ValueError(f"{name}: {spec['type']!r} built a {type(built).__name__}, not a module or a process")
        return layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def _build(self, spec: Mapping[str, Any], where: str) -> Any:
        factory = self._factory(spec, where)
        arguments = {key: self._nested(value, f"{where}.{key}") for key, value in spec.items() if key != "type"}
        try:
            return factory(**arguments)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where} ({spec['type']}): {error}") from None

    def _nested(self, value: Any, where: str) -> Any:
        """A nested ``{type: BLOCK, ...}`` becomes that block's factory; other values stay."""
        if isinstance(value, Mapping) and "type" in value:
            factory = self._factory(value, where)
            arguments = {key: self._nested(item, f"{where}.{key}") for key, item in value.items() if key != "type"}
            return functools.partial(factory, **arguments)
        return value

    def forward(self, x: Any) -> Any:
        return self.network()(x)

    def export_module(self) -> nn.Module:
        return nn.Sequential(self.network())


def _takes(factory: Callable[..., Any], argument: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return argument in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _is_list(node: Any) -> bool:
    return isinstance(node, list)


def _entries(key: str, spec: Any, current: Any) -> list[tuple[str, Any, Any]]:
    """The decisions ``key: spec`` asks for, as ``(key, spec, current value)``: ``{each: SPEC}`` is one per entry."""
    if not (isinstance(spec, Mapping) and "each" in spec):
        return [(key, spec, current)]
    if len(spec) != 1:
        raise ValueError(f"hyper_parameters: {key}: each: takes no other keys, got {sorted(set(spec) - {'each'})}")
    if not _is_list(current) or not current:
        raise ValueError(f"hyper_parameters: {key}: each: the description gives no list here, got {current!r}")
    return [(f"{key}.{index}", spec["each"], value) for index, value in enumerate(current)]


def _decision(key: str, spec: Any, current: Any) -> nn.Module:
    """The decision ``hyper_parameters`` asks for at ``key`` (see the module's documentation)."""
    where = f"hyper_parameters: {key}"
    if isinstance(spec, Mapping):
        kind = spec.get("type")
        low, high = spec.get("low"), spec.get("high")
        if kind not in ("int", "float") or low is None or high is None:
            raise ValueError(
                f"{where}: expected a list of values or {{type: int|float, low: L, high: H}}, got {spec!r}"
            )
        try:
            if kind == "int":
                return _Decision(key, IntRange(low, high, spec.get("step", 1)))
            return _Decision(key, FloatRange(low, high, log=spec.get("log", False)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
    if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
        raise ValueError(f"{where}: expected a non-empty list of values or a range, got {spec!r}")
    binary = all(v in (0, 1) and not isinstance(v, bool) for v in spec)
    if binary and _is_list(current):  # the seed's form: where the ones of a 0/1 list go
        if len(current) != len(spec) or not 0 < sum(spec) < len(spec):
            raise ValueError(
                f"{where}: a 0/1 list searches where its ones go, so it needs the argument's {len(current)} "
                f"entries with some but not all ones, got {len(spec)} entries with {sum(spec)} ones"
            )
        return Positions(key, spec)
    return _Decision(key, Categorical(len(spec), labels=list(spec)), choices=spec)


def compose(
    modules: Sequence[str],
    hyper_parameters: Mapping[str, Any] | None = None,
    in_channels: int | None = None,
    **entries: Any,
) -> ComposedNetwork:
    """The registered ``compose`` space: ``modules`` and their descriptions as keyword arguments
    (``init={type: ...}, layer={...}``), built from the process's registered blocks."""
    entries.pop("build_space", None)  # the resolver offers it to spaces made of other spaces
    for injected in ("num_classes", "input_shape"):  # the dataset's, which the description states itself
        entries.pop(injected, None)
    from hyperbox.kernel.plugins import get_manager

    registry = get_manager().registry
    return ComposedNetwork(
        modules, entries, lambda name: registry.get("blocks", name).load(), hyper_parameters, in_channels
    )
