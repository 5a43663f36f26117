"""GDAS: DARTS with Gumbel-softmax sampling, one candidate per step (Dong & Yang, 2019)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hyperbox.kernel import Categorical, Subset
from hyperbox.nas.mutators._darts import ABOVE_UNIFORM, DartsMutator

__all__ = ["GDASMutator"]


class _GumbelMixer:
    """Mixed mode of GDAS: the sampled candidates only, weighted by a straight-through hard mask.

    The forward value of the weights is the hard 0/1 mask; their gradient is that of
    ``softmax((alpha + noise) / tau)``, so ``alpha`` learns although one candidate runs.
    """

    def __init__(self, alpha: nn.Parameter, tau: float) -> None:
        self.alpha = alpha
        self.tau = tau
        self.noise = torch.zeros_like(alpha.detach())
        self.hard = torch.zeros_like(alpha.detach())
        self.active: tuple[int, ...] = ()

    def __call__(self) -> tuple[torch.Tensor, tuple[int, ...]]:
        soft = ((self.alpha + self.noise) / self.tau).softmax(-1)
        return self.hard - soft.detach() + soft, self.active


class GDASMutator(DartsMutator):
    """Sample one architecture per :meth:`reset` by Gumbel-max over ``alpha``; compute only it.

    A trainer calls :meth:`reset` before each step (new noise, new hard choice) and
    :meth:`set_epoch` once per epoch to anneal the temperature from ``tau_max`` to ``tau_min``.
    Everything else (``arch_parameters``, ``fix``, ``export``) is as in :class:`DartsMutator`.

    Subset choices take the top-k of the perturbed weights (``n_chosen=None``: those above
    uniform weight, at least one).
    """

    def __init__(
        self,
        model: Any,
        *,
        seed: int | None = None,
        tau_max: float = 10.0,
        tau_min: float = 0.1,
        init_scale: float = 1e-3,
    ) -> None:
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"GDASMutator: need 0 < tau_min <= tau_max, got {tau_min} and {tau_max}")
        self.tau_max, self.tau_min, self.tau = tau_max, tau_min, tau_max
        super().__init__(model, seed=seed, init_scale=init_scale)

    def _make_mixer(self, alpha: nn.Parameter) -> _GumbelMixer:
        return _GumbelMixer(alpha, self.tau)

    def set_epoch(self, epoch: int, total_epochs: int) -> float:
        """Anneal the temperature linearly over the epochs; returns the new ``tau``."""
        progress = epoch / max(total_epochs - 1, 1)
        self.tau = self.tau_max - (self.tau_max - self.tau_min) * min(max(progress, 0.0), 1.0)
        for mixer in self._mixers.values():
            mixer.tau = self.tau
        return self.tau

    def sample_search(self) -> dict[str, Any]:
        """Draw Gumbel noise per key, choose by the perturbed weights, and arm the mixers with it."""
        arch = {}
        for key, alpha in self.alphas.items():
            uniform = torch.rand(alpha.shape, generator=self._generator).clamp_(1e-10, 1.0)
            noise = (-torch.log(-torch.log(uniform))).to(alpha.device)
            chosen = _hard_choice(self.space[key], (alpha.detach() + noise) / self.tau)
            mixer = self._mixers[key]
            mixer.noise, mixer.active = noise, chosen
            mixer.hard = torch.zeros_like(noise).index_fill_(0, torch.tensor(chosen, device=noise.device), 1.0)
            arch[key] = chosen[0] if isinstance(self.space[key], Categorical) else chosen
        return arch


def _hard_choice(domain: Categorical | Subset, logits: torch.Tensor) -> tuple[int, ...]:
    """The indices a hard Gumbel sample picks from perturbed ``logits``."""
    if isinstance(domain, Categorical):
        return (int(logits.argmax()),)
    if domain.k is None:
        above = (logits.softmax(-1) > ABOVE_UNIFORM / logits.numel()).nonzero().flatten().tolist()
        return domain.keep(above, logits.argsort(descending=True).tolist()) or (int(logits.argmax()),)
    return tuple(sorted(logits.topk(domain.k).indices.tolist()))
