"""Which architectures a weight-sharing step trains: uniform single paths, or the sandwich rule."""

from __future__ import annotations

import random
from numbers import Real
from typing import Any

from hyperbox.kernel import Categorical, FloatRange, IntRange, SearchSpace, Subset


def extreme_decision(domain: Any, largest: bool, rng: random.Random) -> Any:
    """The largest (or smallest) decision of ``domain``.

    A categorical whose labels are all numbers (a ``ValueSpace``'s widths, kernel sizes...) picks
    the largest label; other categoricals assume candidates sorted from small to large and pick the
    last (first). Ranges pick their bound; a subset takes every input (any one input), or ``k``
    random ones when ``k`` is fixed.
    """
    if isinstance(domain, Categorical):
        labels = domain.labels
        if labels and all(isinstance(label, Real) and not isinstance(label, bool) for label in labels):
            return (max if largest else min)(range(domain.n), key=labels.__getitem__)
        return domain.n - 1 if largest else 0
    if isinstance(domain, (IntRange, FloatRange)):
        return domain.high if largest else domain.low
    if isinstance(domain, Subset) and domain.k is None:
        return (
            tuple(sorted(rng.sample(range(domain.n), domain.most)))
            if largest and domain.most
            else (tuple(range(domain.n)) if largest else (rng.randrange(domain.n),))
        )
    return domain.sample(rng)


def step_architectures(space: SearchSpace, rng: random.Random, sampling: str, sandwich_n: int) -> list[dict]:
    """The architectures of one training step, in JSON form (unambiguous to apply)."""
    if sampling == "uniform":
        archs = [space.sample(rng)]
    else:
        archs = [
            {key: extreme_decision(domain, True, rng) for key, domain in space.items()},
            {key: extreme_decision(domain, False, rng) for key, domain in space.items()},
            *(space.sample(rng) for _ in range(sandwich_n)),
        ]
    return [space.to_json(arch) for arch in archs]
