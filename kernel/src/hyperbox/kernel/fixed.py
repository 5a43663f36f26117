"""A mutator that always proposes one given architecture."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import load_arch


class FixedMutator(Mutator):
    """Evaluate one given architecture (a dict or an architecture JSON file): no search."""

    def __init__(self, model: Any, *, arch: str | Mapping[str, Any], seed: int | None = None) -> None:
        super().__init__(model, seed=seed)
        where = f"architecture file {os.fspath(arch)!r}" if isinstance(arch, (str, os.PathLike)) else "arch"
        self.arch = self.space.validate(load_arch(arch), where=where)

    def sample_search(self) -> dict[str, Any]:
        return dict(self.arch)
