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


#: Marks a subnet cut from a supernet without training of its own (one-shot, DARTS): its BatchNorm
#: statistics are the supernet's, gathered over many subnets, so accuracy recalibrates them.
SHARED_STATISTICS = "hyperbox_shared_statistics"


def mark_shared_statistics(subnet: nn.Module) -> nn.Module:
    """Mark ``subnet`` as holding a supernet's BatchNorm statistics (see :data:`SHARED_STATISTICS`)."""
    setattr(subnet, SHARED_STATISTICS, True)
    return subnet


def has_shared_statistics(model: nn.Module) -> bool:
    """A supernet, or a subnet cut from one without training of its own."""
    return bool(find_mutables(model)) or getattr(model, SHARED_STATISTICS, False)
