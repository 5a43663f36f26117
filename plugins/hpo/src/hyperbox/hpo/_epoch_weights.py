"""The convolution weights of a short trial after each of its epochs, for autoHyper's rank.

The reference code scores the network at the end of every epoch of a trial and averages
(github.com/MathieuTuli/autoHyper, branch ``master``: ``train.py:epoch_iteration`` calls
``metrics.py:Metrics.evaluate``). A trainer here reports each epoch (``context.report``) but hands
back only the trained network; the optimisers it steps hold the very parameters it trains, so a
global step hook (``torch.optim.optimizer.register_optimizer_step_post_hook``) finds them whatever
the trainer, and each report copies their 4-D weights. The hook sees every optimiser stepping in
the process, so only the weights of the network the trial hands back are kept.
"""

from __future__ import annotations

import warnings
import weakref
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
        self._optimizers: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        # per epoch: (the parameter, weakly, so that a freed one is never taken for another; its copy)
        self._epochs: list[list[tuple[weakref.ref[torch.Tensor], torch.Tensor]]] = []

    def __enter__(self) -> EpochWeights:
        self._handle = register_optimizer_step_post_hook(self._stepped)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._handle.remove()

    def _stepped(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._optimizers.add(optimizer)

    def take(self) -> None:
        """Copy the convolution weights the optimisers step as they are now (an epoch has ended);
        nothing before the first step."""
        parameters = {
            id(p): p for optimizer in self._optimizers for group in optimizer.param_groups for p in group["params"]
        }  # read at every epoch: param groups added since are seen
        epoch = [(weakref.ref(p), p.detach().cpu().clone()) for p in parameters.values() if p.dim() == 4]
        if epoch:
            self._epochs.append(epoch)

    def snapshots(self, trained: Any) -> list[Any]:
        """The weights after each epoch, named as in ``trained`` and only those of ``trained``
        that every snapshot holds; ``[trained]`` when none was taken or none matches."""
        if not self._epochs:
            return [trained]
        if not hasattr(trained, "named_parameters"):  # nothing to tell the trial's weights from others
            return [
                WeightsSnapshot({f"parameter {index}": w for index, (_, w) in enumerate(epoch)})
                for epoch in self._epochs
            ]
        names = {id(p): name for name, p in trained.named_parameters()}
        order = {name: index for index, name in enumerate(names.values())}
        named = [
            {names[id(p)]: w for ref, w in epoch if (p := ref()) is not None and id(p) in names}
            for epoch in self._epochs
        ]
        common = set.intersection(*(set(epoch) for epoch in named))
        if not common:
            warnings.warn(
                "autoHyper: the optimisers stepped no convolution weight of the network the trial returned; "
                "its final weights alone are scored",
                stacklevel=2,
            )
            return [trained]
        kept = sorted(common, key=order.__getitem__)  # the network's order, the same in every epoch
        return [WeightsSnapshot({name: epoch[name] for name in kept}) for epoch in named]
