"""BatchNorm recalibration: fresh running statistics for a network cut from a supernet (Once-for-All)."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch
from torch import nn

from hyperbox.kernel import find_mutables


def recalibrate_batchnorm(network: nn.Module, batches: Iterable, num_batches: int, device: torch.device) -> int:
    """Re-estimate every BatchNorm layer's running mean and variance on ``num_batches`` of ``batches``.

    Shared supernet statistics were gathered over many subnets and fit none of them. The statistics
    are reset and re-accumulated as a cumulative average (``momentum=None``); only the BatchNorm
    layers switch to training mode, so dropout stays off. The network ends in eval mode.
    Returns the number of batches used.
    """
    if find_mutables(network):
        raise ValueError("recalibrate_batchnorm: pass the plain subnet (build_subnet), not the supernet")
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    network.eval()
    if not norms:
        return 0
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    used = 0
    try:
        with torch.no_grad():
            for inputs, _ in islice(batches, num_batches):
                network(inputs.to(device))
                used += 1
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        network.eval()
    return used
