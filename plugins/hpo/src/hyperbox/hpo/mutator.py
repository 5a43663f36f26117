"""The Optuna mutator: any kernel search space searched by an Optuna study through ask/tell."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hyperbox.kernel import ConfigError, Mutator
from hyperbox.kernel.config import DIRECTIONS
from hyperbox.hpo._components import FINITE_ONLY, SEEDED_ONCE, make_pruner, sampler_factory
from hyperbox.hpo._encoding import SpaceEncoding
from hyperbox.hpo._storage import open_storage, open_study

__all__ = ["OptunaMutator"]

#: Study name used in a persistent storage when none is given, so that workers meet in one study.
DEFAULT_STUDY_NAME = "hyperbox"

_END_STATES = {"pruned": TrialState.PRUNED, "failed": TrialState.FAIL}


def sampler_seed(seed: int, trial_number: int) -> int:
    """The sampler's seed for one trial: a pure function of the search seed and the trial number."""
    return random.Random(f"{seed}/{trial_number}").getrandbits(31)


class OptunaMutator(Mutator):
    """Search any space with an Optuna study: each trial is ``study.ask()``, each result ``study.tell()``.

    Args:
        model: the model (or any container of mutables) to search.
        seed: makes the search reproducible. The sampler is rebuilt with a seed derived from the
            seed and the trial number before each trial, so a trial's suggestion depends only on
            the seed and the trials before it: a resumed search continues exactly, and workers
            sharing a study never draw the same random suggestion. (QMC keeps one seed: it
            scrambles its whole sequence with it.)
        sampler: ``tpe``, ``cmaes``, ``gp``, ``qmc``, ``random``, ``grid``, ``nsga2``, ``nsga3`` or
            ``bruteforce``; ``sampler_args`` are the sampler's keyword arguments. ``grid`` searches
            every value of the finite keys; give float keys their values with
            ``sampler_args={"search_space": {"lr": [0.01, 0.1]}}``.
        pruner: ``none``, ``median``, ``percentile``, ``successive_halving``, ``hyperband``,
            ``wilcoxon``, ``patient`` or ``threshold``, with ``pruner_args``. Pruning needs a
            single objective; intermediate values come from :meth:`report`.
        directions: ``maximize``/``minimize`` per objective; by default the directions the runner
            sets with :meth:`set_objectives`.
        storage: an Optuna storage URL (``sqlite:///study.db``, ``postgresql://...``) or storage
            object; None keeps the study in memory.
        study_name: the study to create or join in ``storage`` (default ``"hyperbox"`` for a
            persistent storage).
        load_if_exists: join an existing study of that name (its directions must match).

    The study is created on first use, after :meth:`set_objectives`. See
    :mod:`hyperbox.hpo._encoding` for how each kind of decision becomes Optuna parameters.
    """

    def __init__(
        self,
        model: Any,
        *,
        seed: int | None = None,
        sampler: str = "tpe",
        sampler_args: Mapping[str, Any] | None = None,
        pruner: str = "none",
        pruner_args: Mapping[str, Any] | None = None,
        directions: Sequence[str] | None = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        load_if_exists: bool = True,
    ) -> None:
        super().__init__(model, seed=seed)
        self.seed = seed
        self.encoding = SpaceEncoding(self.space)
        self.sampler_name = sampler
        self._make_sampler = sampler_factory(sampler, self._complete_sampler_args(sampler, dict(sampler_args or {})))
        self.pruner_name = pruner
        self._pruner = make_pruner(pruner, pruner_args)
        self._directions = None if directions is None else _checked_directions(directions)
        self._storage = open_storage(storage)
        self.study_name = DEFAULT_STUDY_NAME if study_name is None and storage is not None else study_name
        self.load_if_exists = load_if_exists
        self._study: optuna.Study | None = None
        self._running: list[tuple[dict[str, Any], optuna.Trial]] = []

    # -- configuration ----------------------------------------------------------------------------
    def _complete_sampler_args(self, sampler: str, args: dict[str, Any]) -> dict[str, Any]:
        """Check that a finite-only sampler can enumerate the space, and give grid its grid."""
        if sampler not in FINITE_ONLY:
            return args
        given = args.get("search_space", {}) if sampler == "grid" else {}
        unknown = sorted(set(given) - set(self.space))
        if unknown:
            raise ConfigError(f"sampler {sampler!r}: search_space has unknown key(s) {unknown}")
        grid = {}
        for name in self.encoding.distributions:
            if name in given:
                grid[name] = [self.encoding.encode_decision(name, value)[name] for value in given[name]]
            elif (values := self.encoding.finite_values(name)) is not None:
                grid[name] = values
            else:
                where = "sampler_args.search_space" if sampler == "grid" else "a grid of values (use grid)"
                raise ConfigError(f"sampler {sampler!r}: {name!r} is continuous; give its values in {where}")
        return {**args, "search_space": grid} if sampler == "grid" else args

    @property
    def study(self) -> optuna.Study:
        """The Optuna study, created or joined on first use."""
        if self._study is None:
            directions = self._directions or self.directions
            if len(directions) != len(self.objectives):
                raise ConfigError(
                    f"{len(directions)} direction(s) {list(directions)} for {len(self.objectives)} "
                    f"objective(s) {list(self.objectives)}"
                )
            if len(directions) > 1 and self.pruner_name != "none":
                raise ConfigError(f"pruner {self.pruner_name!r} needs a single objective, got {len(directions)}")
            self._study = open_study(
                self._storage,
                self.study_name,
                directions,
                self._make_sampler(self.seed),
                self._pruner,
                load_if_exists=self.load_if_exists,
                metric_names=self.objectives,
            )
        return self._study

    def _reseed(self, trial_number: int) -> None:
        if self.seed is not None and self.sampler_name not in SEEDED_ONCE:
            self.study.sampler = self._make_sampler(sampler_seed(self.seed, trial_number))

    # -- the search -------------------------------------------------------------------------------
    def sample_search(self) -> dict[str, Any]:
        study = self.study
        expected = len(study.get_trials(deepcopy=False))
        self._reseed(expected)  # grid draws its cell when the trial is created
        trial = study.ask()
        if trial.number != expected:  # another worker took that number meanwhile
            self._reseed(trial.number)
        params = {name: _suggest(trial, name, dist) for name, dist in self.encoding.distributions.items()}
        arch = self.encoding.decode(params)
        self._running.append((self.space.to_json(arch), trial))
        return arch

    def _take_running(self, arch: Mapping[str, Any], *, remove: bool) -> optuna.Trial | None:
        """The running trial that sampled ``arch`` (JSON form), most recent first."""
        arch = dict(arch)
        for index in range(len(self._running) - 1, -1, -1):
            if self._running[index][0] == arch:
                return self._running.pop(index)[1] if remove else self._running[index][1]
        return None

    def report(self, arch: Mapping[str, Any], step: int, metrics: Mapping[str, float]) -> bool:
        """Give the pruner the first objective at ``step``; a pruned trial is closed in the study."""
        objective = self.objectives[0]
        trial = self._take_running(arch, remove=False)
        if trial is None or objective not in metrics or len(self.study.directions) > 1:
            return False
        trial.report(float(metrics[objective]), step)
        if not trial.should_prune():
            return False
        self.discard(arch, "pruned")
        return True

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Tell the study the trial's objective values (an architecture it did not sample is added)."""
        missing = [o for o in self.objectives if o not in metrics]
        if missing:
            raise ConfigError(f"objective {missing[0]!r} is missing from the metrics {sorted(metrics)}")
        values = [float(metrics[o]) for o in self.objectives]
        trial = self._take_running(arch, remove=True)
        if trial is None:
            self.study.add_trial(self._frozen_trial(arch, values))
        else:
            self.study.tell(trial, values)

    def discard(self, arch: Mapping[str, Any], state: str) -> None:
        """End the running trial of ``arch`` without a result: ``state`` is ``pruned`` or ``failed``.

        Pruned trials keep their reported values, which TPE uses; failed ones are ignored.
        """
        trial = self._take_running(arch, remove=True)
        if trial is not None:
            self.study.tell(trial, state=_END_STATES[state])

    def restore(self, history: Sequence[tuple[Mapping[str, Any], Mapping[str, float] | None]]) -> None:
        """Replay ``history`` into an empty study; a persistent study already holds its trials."""
        study = self.study
        if study.get_trials(deepcopy=False):
            return
        for arch, metrics in history:
            values = None if metrics is None else [float(metrics[o]) for o in self.objectives]
            study.add_trial(self._frozen_trial(arch, values))

    def _frozen_trial(self, arch: Mapping[str, Any], values: list[float] | None) -> optuna.trial.FrozenTrial:
        # history does not tell a pruned trial from a failed one: without values, both count as failed
        return optuna.trial.create_trial(
            params=self.encoding.encode(arch),
            distributions=self.encoding.distributions,
            values=values,
            state=TrialState.COMPLETE if values is not None else TrialState.FAIL,
        )

    def sample_final(self) -> dict[str, Any]:
        """The best trial's architecture (single objective); otherwise the current one."""
        study = self.study
        if len(study.directions) > 1 or not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            return super().sample_final()
        return self.encoding.decode(study.best_trial.params)


def _checked_directions(directions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(directions, str):
        directions = [directions]
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad or not directions:
        raise ConfigError(f"directions {list(directions)}: each must be one of {', '.join(DIRECTIONS)}")
    return tuple(directions)


def _suggest(trial: optuna.Trial, name: str, distribution: Any) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step)
    assert isinstance(distribution, FloatDistribution)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)
