"""Experiment files: safe-loaded YAML, dotted overrides, attrs validation and signature checks."""

from __future__ import annotations

import copy
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from hyperbox.kernel.errors import ConfigError
from hyperbox.kernel.ledger import Budget

#: Arguments the kernel passes itself; an experiment need not (but may) give them.
INJECTED = {
    "spaces": ("num_classes", "in_channels", "input_shape", "build_space"),
    "mutators": ("model", "seed"),
    "datasets": ("seed",),
    "trainers": (),
    "estimators": (),
    "augmentations": ("in_channels", "input_shape"),
}
DIRECTIONS = ("maximize", "minimize")


@attrs.frozen
class ComponentSpec:
    """A component named by its registered name, with keyword arguments."""

    name: str
    args: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.args}


@attrs.frozen
class Experiment:
    """A validated experiment. ``source`` names the file for error messages."""

    name: str
    dataset: ComponentSpec
    space: ComponentSpec
    mutator: ComponentSpec
    trainer: ComponentSpec
    estimators: tuple[ComponentSpec, ...]
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    budget: Budget
    #: ``"trainer.<argument>" -> spec``: training hyper-parameters searched with the architecture
    hparams: dict[str, Any] = attrs.field(factory=dict)
    seed: int = 0
    device: str = "cpu"
    output_dir: str = "runs"
    #: where the trials are recorded and shared (a storage URL; see ``hyperbox_register_storages``)
    storage: str | None = None
    #: the storage's own options (``storage: {url: ..., heartbeat_interval: 10}``)
    storage_options: dict[str, Any] = attrs.field(factory=dict)
    #: failed trials in a row that stop the search (None: never)
    max_consecutive_failures: int | None = 5
    #: the best trials whose weights are kept (several objectives: the Pareto front's)
    keep: int = 1
    #: a proposed architecture evaluated already in the run is not trained again
    dedup: bool = True
    source: str = "<experiment>"

    def to_json(self) -> dict[str, Any]:
        storage = {"url": self.storage, **self.storage_options} if self.storage_options else self.storage
        return {
            "name": self.name,
            "seed": self.seed,
            "device": self.device,
            "output_dir": self.output_dir,
            "dataset": self.dataset.to_json(),
            "space": self.space.to_json(),
            "mutator": self.mutator.to_json(),
            "trainer": self.trainer.to_json(),
            "estimators": [e.to_json() for e in self.estimators],
            "objective": list(self.objectives),
            "direction": list(self.directions),
            "budget": attrs.asdict(self.budget),
            **({"hparams": self.hparams} if self.hparams else {}),
            **({"storage": storage} if storage is not None else {}),
            "max_consecutive_failures": self.max_consecutive_failures,
            "keep": self.keep,
            "dedup": self.dedup,
        }


TOP_LEVEL = (
    "name",
    "seed",
    "device",
    "output_dir",
    "dataset",
    "space",
    "mutator",
    "trainer",
    "estimators",
    "objective",
    "direction",
    "budget",
    "hparams",
    "storage",
    "max_consecutive_failures",
    "keep",
    "dedup",
    "data_shape",  # recorded by the engine (the dataset's num_classes, in_channels, input_shape), never read back
)
#: The component whose arguments an experiment's ``hparams`` may search.
SEARCHABLE_ARGUMENTS = "trainer"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` and ``1.0e6`` as floats as YAML 1.2 does (YAML 1.1,
    PyYAML's default, needs a dot and a signed exponent, and reads ``1e-3`` as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))


def _refused(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"!!python/{suffix}: a tag that builds Python objects is refused (only !!python/tuple is read)",
        node.start_mark,
    )


# Vega's files write ``!!python/tuple [1, 1]``: a tuple is data, so it is read; any other Python
# tag would build (or run) arbitrary objects and is refused.
_Loader.add_constructor("tag:yaml.org,2002:python/tuple", _tuple)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _refused)


def yaml_load(text: str) -> Any:
    """Safe-load YAML text (no code runs), with YAML 1.2's exponent floats and ``!!python/tuple``."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = yaml_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).split("\n")[0]
        raise ConfigError(f"{path}:{where}: malformed YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an experiment file must be a mapping of keys, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], source: str) -> dict[str, Any]:
    """``key.sub=value`` overrides; values are parsed as YAML scalars (safe)."""
    data = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r}: expected key.sub=value")
        try:
            value = yaml_load(raw) if raw else None
        except yaml.YAMLError:
            value = raw
        parts = _override_path(data, key.split("."))
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str) and part in ("dataset", "space", "mutator", "trainer"):
                child = {"name": child}
            elif child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {override!r}: {'.'.join(parts[: depth + 1])} is not a mapping")
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def _override_path(data: Mapping[str, Any], parts: list[str]) -> list[str]:
    """Where ``key.sub`` lands: a file in Vega's sections gets ``space.*`` / ``mutator.*`` there (``name``
    being its ``type``), and keys that are dotted themselves stay whole: ``hparams.trainer.lr``,
    ``space.hyper_parameters.layer.doublechannel``."""
    section = next((s for s, k in VEGA_SECTIONS.items() if k == parts[0] and s in data and k not in data), None)
    if section is not None:
        parts = [section, *("type" if part == "name" and i == 0 else part for i, part in enumerate(parts[1:]))]
    if parts[0] == "hparams" and len(parts) > 2:
        return ["hparams", ".".join(parts[1:])]
    if parts[0] in ("space", "search_space") and len(parts) > 3 and parts[1] == "hyper_parameters":
        return [*parts[:2], ".".join(parts[2:])]
    return parts


def component_of(value: Any, where: str) -> ComponentSpec:
    """A component named by ``NAME`` or ``{name: NAME, **arguments}``."""
    if isinstance(value, ComponentSpec):
        return value
    if isinstance(value, str):
        return ComponentSpec(value)
    if isinstance(value, Mapping):
        args = dict(value)
        name = args.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: missing 'name' (the registered component name)")
        bad = [k for k in args if not isinstance(k, str)]
        if bad:
            raise ConfigError(f"{where}: argument names must be strings, got {bad}")
        return ComponentSpec(name, args)
    raise ConfigError(f"{where}: expected a component name or a mapping with 'name', got {value!r}")


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def parse_experiment(data: Mapping[str, Any], source: str, default_name: str = "experiment") -> Experiment:
    data = _vega_sections(data, source)
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(TOP_LEVEL)}")
    for required in ("dataset", "space", "mutator", "trainer"):
        if data.get(required) is None:
            raise ConfigError(f"{source}: missing key {required!r}")
    estimators = tuple(
        component_of(e, f"{source}: estimators[{i}]") for i, e in enumerate(_as_tuple(data.get("estimators")))
    )
    objectives, directions = objectives_of(data.get("objective"), data.get("direction"), source)
    budget_data = data.get("budget") or {}
    if not isinstance(budget_data, Mapping):
        raise ConfigError(f"{source}: budget: expected a mapping with 'trials' and/or 'seconds'")
    budget = budget_of(budget_data, source)
    if budget.trials is None and budget.seconds is None:
        budget = Budget(trials=1)
    storage, storage_options = storage_of(data.get("storage"), source)
    hparams = hparams_of(data.get("hparams"), source)
    failures = max_consecutive_failures_of(data.get("max_consecutive_failures", 5), source)
    keep = keep_of(data.get("keep", 1), source)
    checks = {"seed": int, "device": str, "output_dir": str, "name": str, "dedup": bool}
    for key, kind in checks.items():
        if key in data and (not isinstance(data[key], kind) or kind is not bool and isinstance(data[key], bool)):
            raise ConfigError(f"{source}: {key}: expected {kind.__name__}, got {data[key]!r}")
    return Experiment(
        name=data.get("name") or default_name,
        dataset=component_of(data["dataset"], f"{source}: dataset"),
        space=component_of(data["space"], f"{source}: space"),
        mutator=component_of(data["mutator"], f"{source}: mutator"),
        trainer=_policy_file_made_absolute(component_of(data["trainer"], f"{source}: trainer")),
        estimators=estimators,
        objectives=objectives,
        directions=directions,
        budget=budget,
        hparams=hparams,
        seed=data.get("seed", 0),
        device=data.get("device", "cpu"),
        output_dir=data.get("output_dir", "runs"),
        storage=storage,
        storage_options=storage_options,
        max_consecutive_failures=failures,
        keep=keep,
        dedup=data.get("dedup", True),
        source=source,
    )


def _policy_file_made_absolute(trainer: ComponentSpec) -> ComponentSpec:
    """``augment: FILE.json`` named from where the run starts, so that the run's ``config.yaml``
    finds the file from anywhere (``hbk run --resume`` in another folder)."""
    augment = trainer.args.get("augment")
    if not isinstance(augment, str) or not augment.endswith(".json"):
        return trainer
    return ComponentSpec(trainer.name, {**trainer.args, "augment": os.path.abspath(augment)})


#: Vega's sections, and the keys they stand for (its files name each component by ``type``)
VEGA_SECTIONS = {"search_space": "space", "search_algorithm": "mutator"}


def _vega_sections(data: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """Vega's ``search_space: {type: NAME, ...}`` is ``space: {name: NAME, ...}``, and its
    ``search_algorithm`` the ``mutator``."""
    data = dict(data)
    for section, key in VEGA_SECTIONS.items():
        if section not in data:
            continue
        if key in data:
            raise ConfigError(f"{source}: give the {key} once: {key} or {section}, not both")
        spec = data.pop(section)
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
            raise ConfigError(f"{source}: {section}: expected a mapping with its type (type: NAME)")
        data[key] = {"name": spec["type"], **{k: v for k, v in spec.items() if k != "type"}}
    return data


# -- checks shared by experiment files and the Python API (``where`` prefixes the messages) ---------
def _at(where: str) -> str:
    return f"{where}: " if where else ""


def objectives_of(
    objectives: Any, directions: Any, where: str = "", keys: tuple[str, str] = ("objective", "direction")
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The metric names to optimise (default ``accuracy``) and a direction for each: a list of one
    per objective, or one direction for them all (default ``maximize``). ``keys`` name the two in
    messages."""
    at, (objective_key, direction_key) = _at(where), keys
    names = tuple(_as_tuple(objectives)) or ("accuracy",)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{at}{objective_key}: {name!r} must be a metric name")
    if directions is None or isinstance(directions, str):
        given = (directions or "maximize",) * len(names)
    else:
        given = tuple(directions)
    if len(given) != len(names):
        raise ConfigError(f"{at}{direction_key}: {len(given)} directions for {len(names)} objectives")
    for direction in given:
        if direction not in DIRECTIONS:
            raise ConfigError(f"{at}{direction_key}: {direction!r} must be 'maximize' or 'minimize'")
    return names, given


def budget_of(value: Any, where: str = "") -> Budget:
    """A budget from a :class:`Budget`, a number of trials, ``{trials: N, seconds: S}`` or None
    (no limit)."""
    at = _at(where)
    if value is None or isinstance(value, Budget):
        return value or Budget()
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in ("trials", "seconds")]
        if unknown:
            raise ConfigError(f"{at}budget.{unknown[0]}: unknown key; allowed: trials, seconds")
        trials, seconds = value.get("trials"), value.get("seconds")
    else:
        trials, seconds = value, None
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"{at}budget.trials: expected a positive integer, got {trials!r}")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0):
        raise ConfigError(f"{at}budget.seconds: expected a positive number, got {seconds!r}")
    return Budget(trials=trials, seconds=seconds)


def max_consecutive_failures_of(value: Any, where: str = "") -> int | None:
    """How many failed trials in a row stop a search: a positive integer, or None (never)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{_at(where)}max_consecutive_failures: expected a positive integer or null, got {value!r}")
    return value


def keep_of(value: Any, where: str = "") -> int:
    """How many of the best trials keep their weights: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{_at(where)}keep: expected a positive integer, got {value!r}")
    return value


def storage_of(value: Any, where: str = "") -> tuple[str | None, dict[str, Any]]:
    """``(url, options)`` of ``URL`` or ``{url: URL, option: value, ...}``; (None, {}) for None."""
    if value is None or isinstance(value, str) and value:
        return value, {}
    if isinstance(value, Mapping) and isinstance(value.get("url"), str) and value["url"]:
        options = {k: v for k, v in value.items() if k != "url"}
        if all(isinstance(k, str) for k in options):
            return value["url"], options
    raise ConfigError(f"{_at(where)}storage: expected a storage URL or a mapping with 'url' and options, got {value!r}")


def hparams_of(value: Any, where: str = "") -> dict[str, Any]:
    """Training hyper-parameters to search, ``trainer.<argument>: spec`` (see
    :mod:`hyperbox.kernel.hparams`), checked; {} for None."""
    at = _at(where)
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{at}hparams: expected a mapping '{SEARCHABLE_ARGUMENTS}.<argument>: spec'")
    from hyperbox.kernel.hparams import HyperParameters

    for key in value:
        component, _, argument = str(key).partition(".")
        if component != SEARCHABLE_ARGUMENTS or not argument:
            raise ConfigError(f"{at}hparams.{key}: expected '{SEARCHABLE_ARGUMENTS}.<argument>'")
    try:
        HyperParameters(value)
    except ConfigError as error:
        raise ConfigError(f"{at}hparams: {error}") from None
    return {str(k): v for k, v in value.items()}


def load_experiment(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Experiment:
    data = apply_overrides(load_yaml(path), overrides, str(path))
    return parse_experiment(data, str(path), default_name=Path(path).stem)


def check_arguments(
    factory: Any, args: Mapping[str, Any], where: str, injected: Sequence[str] = (), partial: bool = False
) -> None:
    """Raise a :class:`ConfigError` naming ``where`` and the key for unknown or ill-typed arguments
    (and missing ones, unless ``args`` is ``partial``)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    parameters = {
        name: p for name, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    allowed = [name for name in parameters if name not in injected]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: skip type checks, keep name checks
        hints = {}
    for key, value in args.items():
        if key not in parameters:
            if takes_any:
                continue
            raise ConfigError(
                f"{where}.{key}: unknown argument; allowed: {', '.join(allowed) if allowed else '(none)'}"
            )
        expected = hints.get(key)
        mismatch = None if expected is None else _mismatch(value, expected, f"{where}.{key}")
        if mismatch is not None:
            raise ConfigError(mismatch)
    missing = [
        name
        for name, p in parameters.items()
        if not partial and p.default is p.empty and name not in args and name not in injected
    ]
    if missing:
        raise ConfigError(f"{where}: missing argument {missing[0]!r}")


def _mismatch(value: Any, expected: Any, where: str) -> str | None:
    """Why ``value`` does not fit annotation ``expected``, naming the innermost key path
    (``trainer.milestones[1]``); None when it fits (or cannot be checked)."""
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        reasons = [_mismatch(value, option, where) for option in arguments]
        if any(reason is None for reason in reasons):
            return None
        inner = [r for r in reasons if not r.startswith(f"{where}: ")]  # a container that fits, but not inside
        return inner[0] if len(inner) == 1 else f"{where}: expected {_type_name(expected)}, got {value!r}"
    if not _fits(value, expected):
        return f"{where}: expected {_type_name(expected)}, got {value!r}"
    if origin in (list, Sequence, typing.Sequence, typing.List, set, frozenset) and arguments:
        return next((m for i, v in enumerate(value) if (m := _mismatch(v, arguments[0], f"{where}[{i}]"))), None)
    if origin in (tuple, typing.Tuple) and arguments:
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            arguments = (arguments[0],) * len(value)
        elif len(arguments) != len(value):
            return f"{where}: expected {len(arguments)} items, got {len(value)}"
        return next(
            (m for i, (v, a) in enumerate(zip(value, arguments)) if (m := _mismatch(v, a, f"{where}[{i}]"))), None
        )
    if origin in (dict, Mapping, typing.Mapping, typing.Dict) and len(arguments) == 2:
        for key, item in value.items():
            found = _mismatch(key, arguments[0], f"{where} key {key!r}") or _mismatch(
                item, arguments[1], f"{where}.{key}"
            )
            if found:
                return found
    return None


def _fits(value: Any, expected: Any) -> bool:
    """``value`` is of ``expected``'s outer type (containers' items are checked by :func:`_mismatch`)."""
    origin = typing.get_origin(expected)
    if expected is Any or expected is object:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if expected is type(None):
        return value is None
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected in (str, bool, dict, list):
        return isinstance(value, expected)
    base = origin or expected
    if base in (list, tuple, Sequence, typing.Sequence, typing.List, typing.Tuple, set, frozenset):
        return isinstance(value, (list, tuple))
    if base in (dict, Mapping, typing.Mapping, typing.Dict):
        return isinstance(value, Mapping)
    return True  # types a YAML value cannot be checked against


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(expected))
    if typing.get_origin(expected) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(expected))
    if expected is type(None):
        return "null"
    return getattr(expected, "__name__", str(expected))
