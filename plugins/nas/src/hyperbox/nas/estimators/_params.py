"""Number of parameters of the network actually used."""

from __future__ import annotations

from typing import Any

from torch import nn

from hyperbox.nas.estimators._plain import plain_network


class ParamsEstimator:
    """Parameter count of the (sub)network: for a supernet, of the subnet its decisions select.

    Shared parameters count once; BatchNorm running statistics are buffers and do not count.
    """

    def __init__(self, trainable_only: bool = False, name: str = "params") -> None:
        self.trainable_only = trainable_only
        self.name = name

    def __call__(self, model: nn.Module, data: Any = None, context: Any = None) -> dict[str, int]:
        network = plain_network(model)
        return {self.name: sum(p.numel() for p in network.parameters() if p.requires_grad or not self.trainable_only)}
