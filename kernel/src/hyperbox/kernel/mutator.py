"""The base class of every search algorithm (torch-free).

A mutator finds the mutables of a model, samples decisions for them, applies them and learns
from feedback. Subclasses implement :meth:`Mutator.sample_search`; algorithms that learn from
results also override :meth:`Mutator.observe`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from hyperbox.kernel.space import SearchSpace

__all__ = ["Mutator"]


class Mutator:
    """Search over every mutable of ``model``.

    Args:
        model: a module tree (anything with ``named_modules()``), an object with ``mutables()``,
            or an iterable of mutables.
        seed: seeds :attr:`rng`, the random generator every sampling method should use so that
            a search is reproducible.
    """

    #: Whether several workers may sample from one shared study (see ``hyperbox.hpo``).
    supports_parallel: bool = True

    def __init__(self, model: Any, *, seed: int | None = None) -> None:
        self.model = model
        self.space = SearchSpace.of(model)
        self.rng = random.Random(seed)
        self._cache: dict[str, Any] = {}
        self.objectives: tuple[str, ...] = ("accuracy",)
        self.directions: tuple[str, ...] = ("maximize",)

    def set_objectives(self, objectives: Sequence[str], directions: Sequence[str]) -> None:
        """The metrics the search optimises (the engine calls this before the first trial)."""
        self.objectives, self.directions = tuple(objectives), tuple(directions)

    def score(self, metrics: Mapping[str, float]) -> float:
        """The first objective of ``metrics``, signed so that higher is better."""
        value = float(metrics[self.objectives[0]])
        return value if self.directions[0] == "maximize" else -value

    @property
    def mutables(self) -> list:
        """Every mutable of the model (several may share one key)."""
        return self.space.mutables()

    def sample_search(self) -> dict[str, Any]:
        """Return a new architecture ``{key: decision}`` to try. Subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample_search()")

    def sample_final(self) -> dict[str, Any]:
        """The architecture to export once the search is over (by default the current one)."""
        return dict(self._cache)

    def reset(self, claim: Any = None) -> dict[str, Any]:
        """Sample a new architecture, apply it to the model and return it (also in ``_cache``).

        ``claim`` is the engine's :class:`~hyperbox.kernel.ledger.Claim` of the trial: a claim
        that retries a lost trial carries the architecture to evaluate again, which is applied
        instead of a new sample (see :meth:`propose`).
        """
        return self.apply(self.propose(claim))

    def propose(self, claim: Any = None) -> dict[str, Any]:
        """The architecture for ``claim``: the one it carries, else :meth:`sample_search`'s. A
        mutator that searches in the ledger's own study (see :meth:`bind_run`) draws on the
        study's trial, ``claim.handle``."""
        arch = getattr(claim, "arch", None)
        return dict(arch) if arch is not None else self.sample_search()

    def size(self) -> int | None:
        """How many architectures this search can propose (None: endless); by default the space's
        size. The engine ends a search that has evaluated them all."""
        return self.space.size()

    @property
    def draws_on_claims(self) -> bool:
        """Whether :meth:`propose` draws on the claim's own trial (``claim.handle``) rather than
        sampling: then a proposal cannot be drawn again for the same claim. False by default."""
        return False

    def apply(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``arch`` against the space, set every mutable's decision and remember it."""
        self._cache = self.space.apply(arch)
        return self._cache

    def bind_run(self, directory: Any, study: Any = None) -> None:
        """The search starts: ``directory`` (a path) is its run directory, where a mutator may keep
        its state, or None for a search kept in memory; ``study`` is the storage's own record of
        a search shared by workers (an Optuna study from the hpo plugin's ledgers), or None.

        The engine calls this once, before the first trial; the default keeps nothing.
        """

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Feedback: ``arch`` scored ``metrics``. Learning algorithms override this."""

    def report(self, arch: Mapping[str, Any], step: int, metrics: Mapping[str, float]) -> bool:
        """An intermediate result of a running trial; return True to stop (prune) the trial."""
        return False

    def discard(self, arch: Mapping[str, Any], state: str) -> None:
        """Trial of ``arch`` ended without a result: ``state`` is ``"pruned"`` or ``"failed"``."""

    def restore(self, history: Sequence[tuple[Mapping[str, Any], Mapping[str, float], str]]) -> None:
        """Bring the search back to where it was after ``history`` (resume of a killed run).

        ``history`` holds ``(arch, metrics, state)`` of the finished trials in order; ``state`` is
        ``complete``, ``pruned`` or ``failed``. The default replays them: sample (to advance
        :attr:`rng` exactly as the first run did), then observe or discard the recorded result.
        """
        for arch, metrics, state in history:
            self.sample_search()
            if state == "complete":
                self.observe(arch, metrics)
            else:
                self.discard(arch, state)

    def budget_warnings(self, trials: int) -> list[str]:
        """Why this search's settings cannot act within ``trials`` trials (for example, a warm-up
        of random samples as long as the budget), one sentence each; the engine warns with them
        before the first trial. The default has nothing to say."""
        return []

    def close(self) -> None:
        """Release what the search holds (database connections, threads); called when its search ends."""

    def export(self) -> dict[str, Any]:
        """The final architecture in JSON form."""
        return self.space.to_json(self.space.validate(self.sample_final()))
