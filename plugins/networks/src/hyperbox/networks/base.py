"""The base class of searchable networks."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from hyperbox.kernel import SearchSpace, load_arch


class BaseNASNetwork(nn.Module):
    """A searchable network: ``mask=None`` builds the supernet (to be searched), ``mask=arch`` (a
    dict or an architecture JSON path) fixes every decision. Searchable ops then allocate only the
    chosen sizes (OFA, ViT); choices between whole operations (DARTS, NAS-Bench-201) keep their
    candidates, and :meth:`build_subnet` gives the minimal plain model in every case.

    Subclasses pass ``mask=self.mask`` to every mutable they create (a mutable picks its own key
    from the dict) and call :meth:`check_mask` at the end of ``__init__``, so that keys the
    network does not have are reported.
    """

    def __init__(self, mask: Mapping[str, Any] | str | os.PathLike | None = None) -> None:
        super().__init__()
        self.mask = None if mask is None else load_arch(mask)

    def check_mask(self) -> None:
        if self.mask is not None:
            SearchSpace.of(self).validate(self.mask, where=f"{type(self).__name__} mask")

    @property
    def arch(self) -> dict[str, Any]:
        """The current decisions (JSON form); undecided keys are left out."""
        space = SearchSpace.of(self)
        decided = {key: space.mutables(key)[0].decision for key in space}
        return space.to_json({key: d for key, d in decided.items() if d is not None})

    def build_subnet(self, arch: Mapping[str, Any] | str | None = None) -> nn.Module:
        """A plain PyTorch model of ``arch`` (default: the current decisions) with this supernet's weights."""
        from hyperbox.nas.subnet import build_subnet

        return build_subnet(self, arch)

    def arch_size(self, input_shape: Sequence[int], arch: Mapping[str, Any] | str | None = None) -> dict[str, int]:
        """Parameters and multiply-accumulates of ``arch`` (default: the current decisions) on
        one input of ``input_shape`` (C, H, W)."""
        from hyperbox.nas.estimators import FlopsEstimator, ParamsEstimator

        subnet = self.build_subnet(arch)
        return {**ParamsEstimator()(subnet), **FlopsEstimator(input_shape=input_shape)(subnet)}
