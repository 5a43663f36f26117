"""The convolution weights of a short trial after each of its epochs, for autoHyper's rank.

The reference code scores the network at the end of every epoch of a trial and averages
(github.com/MathieuTuli/autoHyper, branch ``master``: ``train.py:epoch_iteration`` calls
``metrics.py:Metrics.evaluate``). A trainer here reports each epoch (``context.report``) but hands
back only the trained network; the optimisers it steps hold the very parameters it trains, so a
global step hook (``torch.optim.optimizer.register_optimizer_step_post_hook``) finds them whatever
the trainer, and each report copies their 4-D weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

__all__ = ["EpochWeights"]


class WeightsSnapshot:
    """Weights by name, read as a model is: ``named_parameters()``."""

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        self.weights = weights

    def named_parameters(self):
        return self.weights.items()


class EpochWeights:
    """``with EpochWeights() as weights:`` train, calling ``weights.take()`` at each epoch end;
    then ``weights.snapshots(trained_network)`` names the copies after the network's parameters."""

    def __init__(self) -> None:
        self._optimizers: set[int] = set()
        self._parameters: dict[int, torch.Tensor] = {}
        self._epochs: list[dict[int, torch.Tensor]] = []

    def __enter__(self) -> EpochWeights:
        self._handle = register_optimizer_step_post_hook(self._stepped)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._handle.remove()

    def _stepped(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if id(optimizer) in self._optimizers:
            return
        self._optimizers.add(id(optimizer))
        for group in optimizer.param_groups:
            self._parameters.update((id(p), p) for p in group["params"] if p.dim() == 4)

    def take(self) -> None:
        """Copy the trained convolution weights as they are now (an epoch has ended)."""
        self._epochs.append({key: p.detach().cpu().clone() for key, p in self._parameters.items()})

    def snapshots(self, trained: Any) -> list[Any]:
        """The weights after each epoch, named as in ``trained``; ``[trained]`` when nothing was taken."""
        if not self._epochs:
            return [trained]
        names = {id(p): name for name, p in trained.named_parameters()} if hasattr(trained, "named_parameters") else {}
        return [
            WeightsSnapshot({names.get(key, f"parameter {index}"): w for index, (key, w) in enumerate(epoch.items())})
            for epoch in self._epochs
        ]
