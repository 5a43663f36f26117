"""The network an estimator measures: the plain subnet a supernet's decisions select."""

from __future__ import annotations

from torch import nn

from hyperbox.kernel import find_mutables


def plain_network(model: nn.Module) -> nn.Module:
    """A supernet (a model with mutables) becomes a copy cut to its current decisions; a plain model is returned as is.

    Measuring the copy counts only the active weights and leaves the supernet's shared weights and
    BatchNorm statistics untouched.
    """
    if find_mutables(model):
        from hyperbox.nas.subnet import build_subnet

        return build_subnet(model)
    return model
