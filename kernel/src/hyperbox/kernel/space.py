"""The search vocabulary: domains, mutables and architectures (torch-free).

A *mutable* is a searchable point identified by ``key`` with a *domain* of decisions.
An *architecture* (or a hyper-parameter set, or an augmentation policy) is a mapping
``key -> decision`` that round-trips through JSON.

Canonical decisions:

- :class:`Categorical` -- the chosen index (``int``); one-hot masks such as ``[0, 1, 0]`` load too.
- :class:`Subset` -- in memory a sorted tuple of chosen indices; in JSON a multi-hot list of 0/1
  of length ``n`` (the seed's ``InputSpace`` mask). A list of chosen indices loads too when it
  cannot be read as a multi-hot mask.
- :class:`IntRange` -- an ``int`` in ``[low, high]`` on the ``step`` grid.
- :class:`FloatRange` -- a ``float`` in ``[low, high]``.

Conditional decisions: a mutable may matter only under some decisions of others (the layers beyond
the chosen depth, the inside of a skipped optional block). A module that runs a child only under
some decisions says so with ``hyperbox_gates()``, yielding ``(child, mutable, decisions)``; every
mutable found below that child (on that path: a mutable shared by several blocks is active when
one of them is) matters only while ``mutable``'s decision is in ``decisions``. A mutable outside a
module tree lists its own ``conditions``, ``(key, decisions)`` pairs. A key is *active* when the
conditions of one of its mutables all hold.
An inactive decision is not shown, not part of an architecture's identity, and may be left out of
an architecture (it then keeps :func:`default_decision`).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "Categorical",
    "Subset",
    "IntRange",
    "FloatRange",
    "Domain",
    "Mutable",
    "SearchSpace",
    "find_mutables",
    "load_arch",
    "save_arch",
]


def _as_list(value: Any) -> Any:
    """Tensors and arrays become plain lists (duck-typed: no torch import)."""
    if hasattr(value, "tolist") and not isinstance(value, (int, float, bool)):
        return value.tolist()
    return value


def _is_binary_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(v, bool) or (isinstance(v, (int, float)) and v in (0, 1)) for v in value
    )


def _where(key: str | None) -> str:
    return f"mutable {key!r}" if key else "mutable"


@attrs.frozen
class Categorical:
    """One of ``n`` candidates; ``labels`` (optional) name them for display and key-sharing checks."""

    n: int = attrs.field(validator=attrs.validators.ge(1))
    labels: tuple | None = attrs.field(default=None, converter=lambda v: None if v is None else tuple(v))

    def sample(self, rng: random.Random) -> int:
        return rng.randrange(self.n)

    def normalize(self, decision: Any, key: str | None = None) -> int:
        decision = _as_list(decision)
        if isinstance(decision, (list, tuple)):
            if len(decision) != self.n:
                raise ValueError(
                    f"{_where(key)}: mask has length {len(decision)}, expected {self.n} (one per candidate)"
                )
            if not _is_binary_list(decision) or sum(bool(v) for v in decision) != 1:
                raise ValueError(f"{_where(key)}: mask {list(decision)} must be one-hot (exactly one 1)")
            return next(i for i, v in enumerate(decision) if v)
        if isinstance(decision, bool) or not isinstance(decision, int):
            raise ValueError(f"{_where(key)}: decision {decision!r} must be an index or a one-hot mask")
        if not 0 <= decision < self.n:
            raise ValueError(f"{_where(key)}: index {decision} out of range for {self.n} candidates")
        return decision

    def to_json(self, decision: int) -> int:
        return decision

    def one_hot(self, decision: int) -> list[int]:
        return [int(i == decision) for i in range(self.n)]

    def describe(self) -> str:
        return f"categorical{list(self.labels)}" if self.labels else f"categorical({self.n})"


@attrs.frozen
class Subset:
    """``k`` of ``n`` candidates (any number when ``k`` is None, at most ``most`` when given);
    ``labels`` (optional) name them."""

    n: int = attrs.field(validator=attrs.validators.ge(1))
    k: int | None = None
    labels: tuple | None = attrs.field(default=None, converter=lambda v: None if v is None else tuple(v))
    most: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.k is not None and not 1 <= self.k <= self.n:
            raise ValueError(f"Subset: k={self.k} must be between 1 and n={self.n}")
        if self.most is not None and (self.k is not None or not 1 <= self.most <= self.n):
            raise ValueError(f"Subset: most={self.most} must be between 1 and n={self.n}, without k")

    def sizes(self) -> range:
        """How many candidates a decision may choose."""
        if self.k is not None:
            return range(self.k, self.k + 1)
        return range(1, (self.most or self.n) + 1)

    def keep(self, chosen: Iterable[int], preference: Sequence[int]) -> tuple[int, ...]:
        """``chosen`` (sorted), cut to ``most`` of them in the order of ``preference`` where it
        holds more (a search algorithm's scores choosing a subset of any size)."""
        chosen = set(chosen)
        if self.most is not None and len(chosen) > self.most:
            chosen = set([i for i in preference if i in chosen][: self.most])
        return tuple(sorted(chosen))

    def sample(self, rng: random.Random) -> tuple[int, ...]:
        if self.k is not None:
            chosen = rng.sample(range(self.n), self.k)
        elif self.most is not None:
            chosen = rng.sample(range(self.n), rng.randint(1, self.most))
        else:
            chosen = [i for i in range(self.n) if rng.random() < 0.5] or [rng.randrange(self.n)]
        return tuple(sorted(chosen))

    def normalize(self, decision: Any, key: str | None = None) -> tuple[int, ...]:
        decision = _as_list(decision)
        if isinstance(decision, int) and not isinstance(decision, bool):
            decision = [decision]
        if not isinstance(decision, (list, tuple)):
            raise ValueError(f"{_where(key)}: decision {decision!r} must be a multi-hot mask or a list of indices")
        # A tuple is the canonical form (chosen indices); a list may be a multi-hot mask.
        if isinstance(decision, list) and len(decision) == self.n and _is_binary_list(decision):
            chosen = tuple(i for i, v in enumerate(decision) if v)
        else:
            if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.n for i in decision):
                raise ValueError(
                    f"{_where(key)}: mask {list(decision)} must have length {self.n} (multi-hot) "
                    f"or hold indices below {self.n}"
                )
            if len(set(decision)) != len(decision):
                raise ValueError(f"{_where(key)}: indices {list(decision)} repeat")
            chosen = tuple(sorted(decision))
        if self.k is not None and len(chosen) != self.k:
            raise ValueError(f"{_where(key)}: {len(chosen)} inputs chosen, expected {self.k}")
        if self.most is not None and len(chosen) > self.most:
            raise ValueError(f"{_where(key)}: {len(chosen)} chosen, at most {self.most}")
        if not chosen:
            raise ValueError(f"{_where(key)}: no input chosen")
        return chosen

    def to_json(self, decision: tuple[int, ...]) -> list[int]:
        return [int(i in decision) for i in range(self.n)]

    def describe(self) -> str:
        count = self.k if self.k is not None else "any" if self.most is None else f"at most {self.most}"
        return f"subset({self.n} choose {count})"


@attrs.frozen
class IntRange:
    """An integer in ``[low, high]`` (inclusive) on a grid of ``step``."""

    low: int
    high: int
    step: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        if self.high < self.low:
            raise ValueError(f"IntRange: high={self.high} is below low={self.low}")

    def sample(self, rng: random.Random) -> int:
        return self.low + self.step * rng.randrange((self.high - self.low) // self.step + 1)

    def normalize(self, decision: Any, key: str | None = None) -> int:
        if isinstance(decision, float) and decision.is_integer():
            decision = int(decision)
        if isinstance(decision, bool) or not isinstance(decision, int):
            raise ValueError(f"{_where(key)}: decision {decision!r} must be an integer")
        if not self.low <= decision <= self.high or (decision - self.low) % self.step:
            raise ValueError(
                f"{_where(key)}: {decision} is not in range({self.low}, {self.high} inclusive, step {self.step})"
            )
        return decision

    def to_json(self, decision: int) -> int:
        return decision

    def describe(self) -> str:
        return f"int[{self.low}, {self.high}" + (f", step {self.step}]" if self.step != 1 else "]")


@attrs.frozen
class FloatRange:
    """A real number in ``[low, high]``; ``log=True`` samples on a log scale."""

    low: float = attrs.field(converter=float)
    high: float = attrs.field(converter=float)
    log: bool = False

    def __attrs_post_init__(self) -> None:
        if self.high < self.low:
            raise ValueError(f"FloatRange: high={self.high} is below low={self.low}")
        if self.log and self.low <= 0:
            raise ValueError(f"FloatRange: log scale needs low > 0, got {self.low}")

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def normalize(self, decision: Any, key: str | None = None) -> float:
        if isinstance(decision, bool) or not isinstance(decision, (int, float)):
            raise ValueError(f"{_where(key)}: decision {decision!r} must be a number")
        if not self.low <= decision <= self.high:
            raise ValueError(f"{_where(key)}: {decision} is outside [{self.low}, {self.high}]")
        return float(decision)

    def to_json(self, decision: float) -> float:
        return decision

    def describe(self) -> str:
        return f"float[{self.low}, {self.high}]" + (" log" if self.log else "")


Domain = Categorical | Subset | IntRange | FloatRange
DOMAIN_TYPES = (Categorical, Subset, IntRange, FloatRange)


def default_decision(domain: Domain) -> Any:
    """The decision an inactive mutable left out of an architecture keeps."""
    if isinstance(domain, Categorical):
        return 0
    if isinstance(domain, Subset):
        return tuple(range(domain.k or 1))
    return domain.low


class Mutable:
    """Mixin for a searchable point. Subclasses call :meth:`init_mutable`.

    ``decision`` is ``None`` while the point is still to be searched. Setting ``mask`` (the seed's
    name) or ``decision`` validates the value against the domain; :meth:`on_decision` lets a
    subclass react (for example by reconfiguring a layer).
    """

    #: ``((key, decisions), ...)``: the mutable matters only while every ``key``'s canonical decision
    #: is in its ``decisions`` (modules in a tree are gated by ``hyperbox_gates()`` instead)
    conditions: tuple[tuple[str, frozenset], ...] = ()

    def init_mutable(self, key: str | None, domain: Domain, mask: Any = None) -> None:
        self.key = key
        self.domain = domain
        self._decision = None
        if mask is not None:
            if isinstance(mask, (str, os.PathLike)):
                mask = load_arch(mask)
            if isinstance(mask, Mapping):
                if key is None or key not in mask:
                    raise ValueError(f"{_where(key)}: mask dict has no entry for this key")
                mask = mask[key]
            self.decision = mask

    @property
    def decision(self) -> Any:
        return self._decision

    @decision.setter
    def decision(self, value: Any) -> None:
        self._decision = None if value is None else self.domain.normalize(value, self.key)
        self.on_decision(self._decision)

    @property
    def mask(self) -> Any:
        """The decision as the seed writes it: one-hot / multi-hot list, or the value itself."""
        if self._decision is None:
            return None
        return _mask_of(self.domain, self._decision)

    @mask.setter
    def mask(self, value: Any) -> None:
        self.decision = value

    def on_decision(self, decision: Any) -> None:
        """Called after every change of decision (``None`` = back to searching)."""


def value_of(domain: Domain, decision: Any) -> Any:
    """The JSON value a canonical ``decision`` stands for (see :meth:`SearchSpace.values_of`)."""
    if isinstance(domain, Categorical):
        return decision if domain.labels is None else _json_label(domain.labels[decision])
    if isinstance(domain, Subset):
        return list(decision) if domain.labels is None else [_json_label(domain.labels[i]) for i in decision]
    return decision


def _json_label(label: Any) -> Any:
    if label is None or isinstance(label, (bool, int, float, str)):
        return label
    if isinstance(label, (list, tuple)):
        return [_json_label(item) for item in label]
    return str(label)


def _mask_of(domain: Domain, decision: Any) -> Any:
    if isinstance(domain, Categorical):
        return domain.one_hot(decision)
    return domain.to_json(decision)


def is_mutable(obj: Any) -> bool:
    """Duck-typed: anything with a ``key`` and a kernel domain is a mutable."""
    return hasattr(obj, "key") and isinstance(getattr(obj, "domain", None), DOMAIN_TYPES) and hasattr(obj, "decision")


def find_mutables(model: Any) -> list:
    """The mutables of ``model``: a torch-like module tree, an object with ``mutables()``, or an iterable.

    Mutables without a key get one from their position (the module path), which is stable
    across two constructions of the same network.
    """
    if hasattr(model, "named_modules"):
        items: Iterable = model.named_modules()
    elif hasattr(model, "mutables") and callable(model.mutables):
        items = ((None, m) for m in model.mutables())
    elif is_mutable(model):
        items = [(None, model)]
    else:
        items = ((None, m) for m in model)
    found = []
    for index, (name, obj) in enumerate(items):
        if is_mutable(obj):
            if obj.key is None:
                obj.key = name or f"{type(obj).__name__}{index}"
            found.append(obj)
    return found + list(getattr(model, ATTACHED, ()))


def find_occurrences(model: Any) -> dict[int, list[tuple]]:
    """For each mutable of the module tree ``model`` (by ``id``), the conditions of every place it
    sits: the gates (``hyperbox_gates()``) of the modules above it, as ``(mutable, decisions)``."""
    found: dict[int, list[tuple]] = {}

    def walk(module: Any, conditions: tuple, gated: dict[int, tuple]) -> None:
        gate = gated.get(id(module))
        if gate is not None:
            conditions = (*conditions, gate)
        if is_mutable(module):
            places = found.setdefault(id(module), [])
            if conditions not in places:
                places.append(conditions)
        gates = getattr(module, "hyperbox_gates", None)
        if gates is not None:  # a gated module may sit deeper than a child (in a ModuleList)
            gated = {**gated, **{id(part): (mutable, decisions) for part, mutable, decisions in gates()}}
        for child in module.children():
            walk(child, conditions, gated)

    walk(model, (), {})
    return found


def _key_of(name: Any) -> str:
    """A condition names a key, or the mutable whose key it is."""
    return name if isinstance(name, str) else name.key


#: Attribute holding mutables searched with a model without being part of it (see attach_mutables).
ATTACHED = "hyperbox_attached_mutables"


def attach_mutables(model: Any, mutables: Iterable) -> None:
    """Search ``mutables`` (e.g. training hyper-parameters) together with ``model``'s own.

    They travel with the model (a deep copy keeps them), so every mutator, ``build_subnet`` and
    architecture file sees one space; they are not submodules and hold no weights.
    """
    object.__setattr__(model, ATTACHED, [*getattr(model, ATTACHED, ()), *mutables])


class SearchSpace(Mapping):
    """``key -> domain`` for a model, with every mutable sharing a key grouped under it.

    Keys iterate in the order the mutables were found, except that a key comes after the keys its
    conditions name (so a mutator deciding in order knows whether a key is active).
    """

    def __init__(self, mutables: Iterable, occurrences: Mapping[int, list[tuple]] | None = None) -> None:
        """``occurrences`` maps ``id(mutable)`` to the conditions of each place it sits (see
        :func:`find_occurrences`; a mutable without them uses its own ``conditions``)."""
        self._domains: dict[str, Domain] = {}
        self._groups: dict[str, list] = {}
        mutables = list(mutables)
        for mutable in mutables:
            known = self._domains.get(mutable.key)
            if known is None:
                self._domains[mutable.key] = mutable.domain
                self._groups[mutable.key] = [mutable]
            elif known != mutable.domain:
                raise ValueError(
                    f"mutable {mutable.key!r}: key shared by mutables with different candidates "
                    f"({known.describe()} vs {mutable.domain.describe()})"
                )
            elif all(m is not mutable for m in self._groups[mutable.key]):
                self._groups[mutable.key].append(mutable)
        #: per key, the conditions of each of its mutables (the key is active when one set holds)
        occurrences = occurrences or {}
        self._when = {
            key: [
                tuple((_key_of(name), frozenset(decisions)) for name, decisions in conditions)
                for m in group
                for conditions in occurrences.get(id(m), [getattr(m, "conditions", ())])
            ]
            for key, group in self._groups.items()
        }
        #: whether some key may be inactive (one whose every place has conditions)
        self.conditional = any(all(conditions) for conditions in self._when.values())
        if self.conditional:
            self._domains = {key: self._domains[key] for key in self._ordered()}

    def _ordered(self) -> list[str]:
        """The keys, each after the keys its conditions name."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(key: str) -> None:
            if key in order:
                return
            if key in visiting:
                raise ValueError(f"mutable {key!r}: its conditions depend on itself")
            visiting.add(key)
            for conditions in self._when[key]:
                for condition_key, _ in conditions:
                    if condition_key not in self._domains:
                        raise ValueError(f"mutable {key!r}: its condition names {condition_key!r}, not in the space")
            if all(self._when[key]):  # a key active everywhere it sits waits for no other
                for conditions in self._when[key]:
                    for condition_key, _ in conditions:
                        visit(condition_key)
            visiting.discard(key)
            order.append(key)

        for key in self._domains:
            visit(key)
        return order

    def active(self, arch: Mapping[str, Any]) -> list[str]:
        """The keys whose decisions matter under ``arch`` (canonical or JSON decisions; a key whose
        conditions name a key missing from ``arch`` is not active), in the space's order."""
        if not self.conditional:
            return list(self._domains)
        found: set[str] = set()
        for key in self._domains:
            if self.is_active(key, arch, found):
                found.add(key)
        return [key for key in self._domains if key in found]

    def is_active(self, key: str, arch: Mapping[str, Any], active: set[str]) -> bool:
        """Whether ``key`` matters under the decisions of ``arch``, given the keys before it (in the
        space's order) found ``active`` -- for deciding keys one by one (see :meth:`active`)."""
        return any(
            all(
                name in active and name in arch and self._domains[name].normalize(arch[name], name) in decisions
                for name, decisions in conditions
            )
            for conditions in self._when[key]
        )

    def active_only(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """``arch`` without its inactive decisions (what identifies it, and what people read)."""
        if not self.conditional:
            return dict(arch)
        return {key: arch[key] for key in self.active(arch) if key in arch}

    @classmethod
    def of(cls, model: Any) -> SearchSpace:
        mutables = find_mutables(model)
        return cls(mutables, find_occurrences(model) if hasattr(model, "named_children") else None)

    def __getitem__(self, key: str) -> Domain:
        return self._domains[key]

    def __iter__(self):
        return iter(self._domains)

    def __len__(self) -> int:
        return len(self._domains)

    def mutables(self, key: str | None = None) -> list:
        if key is not None:
            return list(self._groups[key])
        return [m for group in self._groups.values() for m in group]

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {key: domain.sample(rng) for key, domain in self._domains.items()}

    def validate(self, arch: Mapping[str, Any], *, partial: bool = False, where: str = "architecture") -> dict:
        """Canonical decisions for ``arch``; unknown or (unless ``partial``) missing keys are errors,
        except inactive ones, which get :func:`default_decision`."""
        unknown = sorted(set(arch) - set(self._domains))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; the space has {sorted(self._domains)}")
        try:
            decisions = {key: self._domains[key].normalize(value, key) for key, value in arch.items()}
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if partial or len(decisions) == len(self._domains):
            return decisions
        active = set(self.active(decisions))
        missing = sorted(key for key in self._domains if key not in decisions and key in active)
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing}")
        for key, domain in self._domains.items():
            decisions.setdefault(key, default_decision(domain))
        return decisions

    def apply(self, arch: Mapping[str, Any], **kwargs: Any) -> dict:
        """Validate ``arch`` and set every mutable's decision."""
        arch = self.validate(arch, **kwargs)
        for key, decision in arch.items():
            for mutable in self._groups[key]:
                mutable.decision = decision
        return arch

    def to_json(self, arch: Mapping[str, Any]) -> dict:
        return {key: self._domains[key].to_json(decision) for key, decision in arch.items()}

    def describe(self) -> dict[str, str]:
        return {key: domain.describe() for key, domain in self._domains.items()}

    def size(self) -> int | None:
        """How many architectures the space holds (None: a real-valued decision makes it endless;
        with conditional decisions, an upper bound)."""
        total = 1
        for domain in self._domains.values():
            if isinstance(domain, Categorical):
                total *= domain.n
            elif isinstance(domain, Subset):
                total *= sum(math.comb(domain.n, size) for size in domain.sizes())
            elif isinstance(domain, IntRange):
                total *= (domain.high - domain.low) // domain.step + 1
            else:
                return None
        return total

    def values_of(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """What the active decisions of ``arch`` stand for, as JSON values: a categorical's label
        (its index when it has none), a subset's list of labels, a number as it is."""
        arch = self.active_only(self.validate(arch, partial=True))
        return {key: value_of(self._domains[key], decision) for key, decision in arch.items()}


def load_arch(source: Any) -> dict:
    """An architecture from a dict or a JSON file path (tensors/one-hot masks are left to the domains)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, encoding="utf-8") as file:
                source = json.load(file)
        except OSError as error:
            raise ValueError(f"architecture file {os.fspath(source)!r}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"architecture file {os.fspath(source)!r}: invalid JSON ({error.msg})") from None
        if not isinstance(source, dict):
            raise ValueError("architecture file must hold a JSON object mapping key -> decision")
    if not isinstance(source, Mapping):
        raise ValueError(f"an architecture is a mapping key -> decision, got {type(source).__name__}")
    return {str(key): _as_list(value) for key, value in source.items()}


def save_arch(path: str | os.PathLike, arch: Mapping[str, Any], space: SearchSpace | None = None) -> None:
    """Write ``arch`` as JSON, atomically."""
    from hyperbox.kernel.files import write_json

    data = space.to_json(arch) if space is not None else {k: _as_list(v) for k, v in arch.items()}
    write_json(path, data)
