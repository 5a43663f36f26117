"""Random search: every decision drawn uniformly from its domain."""

from __future__ import annotations

from typing import Any

from hyperbox.kernel import Mutator

__all__ = ["RandomMutator"]


class RandomMutator(Mutator):
    """Sample every key uniformly and independently (``seed`` makes the sequence reproducible).

    ``reset()`` (from the kernel base) samples, applies the architecture to the model and keeps
    it in ``_cache``.
    """

    def sample_search(self) -> dict[str, Any]:
        """A uniformly drawn architecture over every domain of the space."""
        return self.space.sample(self.rng)
