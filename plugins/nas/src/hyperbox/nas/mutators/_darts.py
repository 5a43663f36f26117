"""DARTS: a continuous relaxation of every choice, learnt by gradient descent (Liu et al., 2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hyperbox.kernel import Categorical, Mutator, Subset

__all__ = ["DartsMutator"]

#: An input counts as above uniform weight past ``ABOVE_UNIFORM / n`` (float32 softmax of equal
#: weights rounds to slightly more than ``1 / n``).
ABOVE_UNIFORM = 1 + 1e-6


class _SoftmaxMixer:
    """Mixed mode of DARTS: every candidate, weighted by ``softmax(alpha)``."""

    def __init__(self, alpha: nn.Parameter) -> None:
        self.alpha = alpha

    def __call__(self) -> tuple[torch.Tensor, None]:
        return self.alpha.softmax(-1), None


class DartsMutator(Mutator):
    """One architecture weight vector ``alpha`` per key; spaces mix their candidates by ``softmax(alpha)``.

    Every key must have a :class:`Categorical` or :class:`Subset` domain (a ``ValueError`` names
    the others). Spaces with a ``mixer`` hook (``OperationSpace``, ``InputSpace``) run all
    candidates weighted in search; other mutables of a key (e.g. a ``ValueSpace`` read by an op)
    take the decision sampled by :meth:`reset`.

    A DARTS trainer::

        mutator = DartsMutator(model, seed=0)
        arch_optimizer = torch.optim.Adam(mutator.arch_parameters(), lr=3e-4)
        weight_optimizer = torch.optim.SGD(model.parameters(), lr=0.025)  # alphas are not in the model
        for (x_train, y_train), (x_val, y_val) in batches:
            mutator.reset()                                  # mixed mode on
            arch_optimizer.zero_grad(); loss(model(x_val), y_val).backward(); arch_optimizer.step()
            weight_optimizer.zero_grad(); loss(model(x_train), y_train).backward(); weight_optimizer.step()
        mutator.fix()                                        # discrete argmax architecture
        arch = mutator.export()

    Args:
        model: the supernet.
        seed: seeds the initial alphas and the sampling of :meth:`sample_search`.
        init_scale: standard deviation of the initial alphas (small: near-uniform mixing).
    """

    def __init__(self, model: Any, *, seed: int | None = None, init_scale: float = 1e-3) -> None:
        super().__init__(model, seed=seed)
        unsupported = {
            key: domain.describe()
            for key, domain in self.space.items()
            if not isinstance(domain, (Categorical, Subset))
        }
        if unsupported:
            raise ValueError(
                f"{type(self).__name__} relaxes only categorical and subset choices; unsupported key(s): {unsupported}"
            )
        if not self.space:
            raise ValueError(f"{type(self).__name__}: the space has no choice to relax")
        for key in self.space:  # Hypernets-style choices say whether they can be relaxed
            why = next(
                (m.why_not_relaxed for m in self.space.mutables(key) if getattr(m, "why_not_relaxed", None)), None
            )
            if why is not None:
                raise ValueError(
                    f"{type(self).__name__} cannot relax {key!r}: {why}; it relaxes Or, Optional and InputChoice "
                    "(search this space with random, evolution, optuna or mcts)"
                )
        generator = torch.Generator().manual_seed(seed if seed is not None else self.rng.getrandbits(63))
        self._generator = generator  # subclasses draw their noise from it too
        #: key -> architecture weights, one per candidate
        self.alphas: dict[str, nn.Parameter] = {
            key: nn.Parameter(init_scale * torch.randn(domain.n, generator=generator))
            for key, domain in self.space.items()
        }
        self._mixers = {key: self._make_mixer(alpha) for key, alpha in self.alphas.items()}
        self._derived: dict[str, Any] | None = None  # set by fix(): the search is over
        self._mixable = [m for m in self.mutables if hasattr(m, "mixer")]

    def _make_mixer(self, alpha: nn.Parameter) -> Any:
        return _SoftmaxMixer(alpha)

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture weights, for the architecture optimizer (they are not model parameters)."""
        return list(self.alphas.values())

    def generators(self) -> dict[str, Any]:
        """The generators its sampling draws from, by name (a trainer's checkpoint saves their states)."""
        return {"rng": self.rng, "noise": self._generator}

    def to(self, device: Any) -> DartsMutator:
        """Move the architecture weights (in place: optimizers keep working) next to the model."""
        for alpha in self.alphas.values():
            alpha.data = alpha.data.to(device)
        return self

    @property
    def mixing(self) -> bool:
        """Whether the spaces run in mixed (differentiable) mode."""
        return any(m.mixer is not None for m in self._mixable)

    def mix(self) -> None:
        """Put every mixable space in mixed mode (a decision, if any, is ignored meanwhile)."""
        for mutable in self._mixable:
            mutable.mixer = self._mixers[mutable.key]

    def fix(self, arch: dict[str, Any] | None = None) -> dict[str, Any]:
        """End the search: leave mixed mode and apply ``arch`` (default: the argmax architecture);
        later :meth:`reset` calls return it, so the trials after a search evaluate the derived
        architecture."""
        for mutable in self._mixable:
            mutable.mixer = None
        self._derived = self.apply(self.sample_final() if arch is None else arch)
        return self._derived

    def reset(self, claim: Any = None) -> dict[str, Any]:
        """Enter mixed mode and apply an architecture drawn from the current distribution (or the
        one ``claim`` carries); after :meth:`fix`, apply the derived architecture."""
        if self._derived is not None:
            return self.apply(self._derived)
        self.mix()
        return self.apply(self.propose(claim))

    def probabilities(self) -> dict[str, list[float]]:
        """``softmax(alpha)`` per key, as plain floats."""
        return {key: alpha.detach().softmax(-1).tolist() for key, alpha in self.alphas.items()}

    def sample_search(self) -> dict[str, Any]:
        """An architecture drawn from ``softmax(alpha)`` (so the search explores, unlike :meth:`sample_final`)."""
        return {key: self._draw(self.space[key], probs) for key, probs in self.probabilities().items()}

    def sample_final(self) -> dict[str, Any]:
        """The derived architecture once :meth:`fix` ended the search; before that the argmax:
        the heaviest candidate, the top-k inputs, or the inputs above uniform weight."""
        if self._derived is not None:
            return dict(self._derived)
        return {key: _strongest(self.space[key], probs) for key, probs in self.probabilities().items()}

    def _draw(self, domain: Categorical | Subset, probs: Sequence[float]) -> Any:
        n = len(probs)
        if isinstance(domain, Categorical):
            return self.rng.choices(range(n), weights=probs)[0]
        if domain.k is None:
            # p = 1/n gives even odds, as the argmax rule (weight above uniform) does.
            chosen = [i for i in range(n) if self.rng.random() < n * probs[i] / (1 + n * probs[i])]
            strongest = sorted(range(n), key=lambda i: -probs[i])
            return domain.keep(chosen, strongest) or (self.rng.choices(range(n), weights=probs)[0],)
        remaining, chosen = list(range(n)), []
        for _ in range(domain.k):
            pick = self.rng.choices(remaining, weights=[probs[i] for i in remaining])[0]
            remaining.remove(pick)
            chosen.append(pick)
        return tuple(sorted(chosen))


def _strongest(domain: Categorical | Subset, probs: Sequence[float]) -> Any:
    """The argmax decision for ``domain`` given candidate probabilities."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    if isinstance(domain, Categorical):
        return order[0]
    if domain.k is None:
        above = (i for i in range(len(probs)) if probs[i] > ABOVE_UNIFORM / len(probs))
        return domain.keep(above, order) or (order[0],)
    return tuple(sorted(order[: domain.k]))
