"""autoHyper: the initial learning rate (and, by the trust-region variant, weight decay) from the
low-rank structure of briefly trained convolution weights.

Torch-free: models are read through ``named_parameters()``.
"""

from hyperbox.hpo.autohyper._evbmf import EVBMFResult, evbmf
from hyperbox.hpo.autohyper._knowledge import (
    knowledge_gain,
    low_rank_metric,
    noise_only_unfoldings,
    ranked_unfoldings,
    trial_rank,
)
from hyperbox.hpo.autohyper._search import LR_CEILING, LR_DELTA, AutoHyper, AutoHyperResult, tune_lr
from hyperbox.hpo.autohyper._trust_region import TrustRegionAutoHyper, TrustRegionResult, tune_lr_wd

__all__ = [
    "LR_CEILING",
    "LR_DELTA",
    "AutoHyper",
    "AutoHyperResult",
    "EVBMFResult",
    "TrustRegionAutoHyper",
    "TrustRegionResult",
    "evbmf",
    "knowledge_gain",
    "low_rank_metric",
    "noise_only_unfoldings",
    "ranked_unfoldings",
    "trial_rank",
    "tune_lr",
    "tune_lr_wd",
]
