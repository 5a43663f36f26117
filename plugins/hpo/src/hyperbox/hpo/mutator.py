"""The Optuna mutator: any kernel search space searched by an Optuna study through ask/tell."""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from hyperbox.hpo._components import FINITE_ONLY, SEEDED_ONCE, make_pruner, sampler_factory
from hyperbox.hpo._encoding import SpaceEncoding
from hyperbox.hpo._heartbeat import Heartbeat
from hyperbox.hpo._storage import close_storage, open_storage, open_study
from hyperbox.kernel import ConfigError, Mutator
from hyperbox.kernel.config import DIRECTIONS

__all__ = ["OptunaMutator"]

#: Study name used in a persistent storage when none is given, so that workers meet in one study.
DEFAULT_STUDY_NAME = "hyperbox"
#: Each sampler's random start: the option that sets it and Optuna's default.
WARMUPS = {
    "tpe": ("n_startup_trials", 10),
    "gp": ("n_startup_trials", 10),
    "nsga2": ("population_size", 50),
    "nsga3": ("population_size", 50),
}
#: The study's file in the run directory when the mutator is given no storage.
STUDY_FILE = "study.db"

#: The Optuna state of a trial the kernel ended without a result (also used by the shared ledger).
END_STATES = {"pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
_TRIAL_STATES = {"complete": TrialState.COMPLETE, **END_STATES}
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)

# Hyperbox logs trials itself; Optuna's per-study INFO lines would duplicate them.
optuna.logging.set_verbosity(optuna.logging.WARNING)


def sampler_seed(seed: int, trial_number: int) -> int:
    """The sampler's seed for one trial: a pure function of the search seed and the trial number."""
    return random.Random(f"{seed}/{trial_number}").getrandbits(31)


class OptunaMutator(Mutator):
    """Search any space with an Optuna study: each trial is ``study.ask()``, each result ``study.tell()``.

    Args:
        model: the model (or any container of mutables) to search.
        seed: makes the search reproducible. The sampler is rebuilt with a seed derived from the
            seed and the proposal's number before each proposal (counting this search's proposals,
            skipped repeats included, in a study of its own; the study's trial number in a shared
            one), so a suggestion depends only on the seed and the proposals before it: a resumed
            search continues exactly, and workers sharing a study never draw the same random
            suggestion. (QMC and grid keep one seed:
            it scrambles QMC's sequence and orders grid's cells.) On resume, the trial a killed
            run left unfinished in its own study is failed (see :meth:`bind_run`).
        sampler: ``tpe``, ``cmaes``, ``gp``, ``qmc``, ``random``, ``grid``, ``nsga2``, ``nsga3`` or
            ``bruteforce``; ``sampler_args`` are the sampler's keyword arguments. ``grid`` searches
            every value of the finite keys; give float keys their values with
            ``sampler_args={"search_space": {"lr": [0.01, 0.1]}}``.
        pruner: ``none``, ``median``, ``percentile``, ``successive_halving``, ``hyperband``,
            ``wilcoxon``, ``patient`` or ``threshold``, with ``pruner_args``. Pruning needs a
            single objective; intermediate values come from :meth:`report`.
        pruning_metric: the reported per-epoch metric the pruner compares; it must improve in
            the objective's direction. By default the first objective if it is reported, else its
            validation form (``val_accuracy`` for ``accuracy``, as the trainers report it); a
            report without it is an error.
        directions: ``maximize``/``minimize`` per objective; by default the directions the engine
            sets with :meth:`set_objectives`.
        storage: an Optuna storage URL (``sqlite:///study.db``, ``postgresql://...``) or storage
            object; None keeps the study in ``study.db`` in the run directory (in memory outside a
            run). In a run with a shared storage (``hbk run --storage``/``--workers``) the mutator
            searches the run's study instead, and its storage and study arguments are not used.
        study_name: the study to create or join in ``storage`` (default ``"hyperbox"`` for a
            persistent storage).
        load_if_exists: join an existing study of that name (its directions must match).
        heartbeat_interval, grace_period, max_retry: for a storage URL, running trials record a
            heartbeat every ``heartbeat_interval`` seconds (None: off); a trial silent for
            ``grace_period`` seconds (default twice the interval), such as a killed worker's, is
            failed and its parameters are tried again, at most ``max_retry`` times.

    The study is opened by :meth:`set_objectives` (or on first use without it). See
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
        pruning_metric: str | None = None,
        directions: Sequence[str] | None = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        load_if_exists: bool = True,
        heartbeat_interval: int | None = 60,
        grace_period: int | None = None,
        max_retry: int | None = 3,
    ) -> None:
        super().__init__(model, seed=seed)
        self.seed = seed
        self.encoding = SpaceEncoding(self.space)
        self.sampler_name = sampler
        self._sampler_args = dict(sampler_args or {})
        completed = self._complete_sampler_args(sampler, dict(sampler_args or {}))
        #: the grid's cells (grid sampler), or None
        self._grid_size = math.prod(map(len, completed["search_space"].values())) if sampler == "grid" else None
        self._make_sampler = sampler_factory(sampler, completed)
        self.pruner_name = pruner
        self._pruner = make_pruner(pruner, pruner_args)
        self.pruning_metric = pruning_metric
        self._directions = None if directions is None else _checked_directions(directions)
        self._retry_options = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "max_retry": max_retry,
        }
        self._own_storage = storage is None
        self._storage = open_storage(storage, **self._retry_options)
        self._opened_storage = isinstance(storage, str)  # a storage we created, and so dispose of
        self._heartbeat_interval = getattr(self._storage, "get_heartbeat_interval", lambda: None)()
        self.study_name = DEFAULT_STUDY_NAME if study_name is None and storage is not None else study_name
        self.load_if_exists = load_if_exists
        self._study: optuna.Study | None = None
        self._running: list[tuple[dict[str, Any], optuna.Trial, Heartbeat | None]] = []
        #: set by :meth:`bind_run` in a shared search: its ledger owns the trials (claims, heartbeats, results)
        self._joined = False
        #: the kernel's trial sequence: trials asked for so far, the restored history included; it
        #: seeds the sampler of a study of our own, whose Optuna numbers a killed trial shifts
        self._asked = 0

    # -- configuration ----------------------------------------------------------------------------
    def _complete_sampler_args(self, sampler: str, args: dict[str, Any]) -> dict[str, Any]:
        """Check that a finite-only sampler can enumerate the space, and give grid its grid."""
        if sampler not in FINITE_ONLY:
            return args
        if self.space.conditional:
            raise ConfigError(
                f"sampler {sampler!r} enumerates every parameter, while in this space some decisions matter only "
                "under others (a Repeat's layers, an Optional's inside); use tpe, random or another sampler"
            )
        given = args.get("search_space", {}) if sampler == "grid" else {}
        unknown = sorted(set(given) - set(self.space))
        if unknown:
            raise ConfigError(f"sampler {sampler!r}: search_space has unknown key(s) {unknown}")
        grid = {}
        for name in self.encoding.distributions:
            if name in given:
                grid[name] = [self.encoding.encode_value(name, value)[name] for value in given[name]]
            elif (values := self.encoding.finite_values(name)) is not None:
                grid[name] = values
            else:
                where = "sampler_args.search_space" if sampler == "grid" else "a grid of values (use grid)"
                raise ConfigError(f"sampler {sampler!r}: {name!r} is continuous; give its values in {where}")
        return {**args, "search_space": grid} if sampler == "grid" else args

    def set_objectives(self, objectives: Sequence[str], directions: Sequence[str]) -> None:
        """Set the objectives and open the study now, so that a bad study fails before a run starts."""
        if self._study is not None:
            raise ConfigError("set_objectives: the study is already open; set the objectives first")
        super().set_objectives(objectives, directions)
        self._study = self._open_study()

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (opened on first use when :meth:`set_objectives` was not called)."""
        if self._study is None:
            self._study = self._open_study()
        return self._study

    def _open_study(self) -> optuna.Study:
        directions = self._directions or self.directions
        if len(directions) != len(self.objectives):
            raise ConfigError(
                f"{len(directions)} direction(s) {list(directions)} for {len(self.objectives)} "
                f"objective(s) {list(self.objectives)}"
            )
        if len(directions) > 1 and self.pruner_name != "none":
            raise ConfigError(f"pruner {self.pruner_name!r} needs a single objective, got {len(directions)}")
        return open_study(
            self._storage,
            self.study_name,
            directions,
            self._make_sampler(self.seed),
            self._pruner,
            load_if_exists=self.load_if_exists,
            metric_names=self.objectives,
        )

    def bind_run(self, directory: Any, study: Any = None) -> None:
        """In a search shared by workers (``study``, the shared ledger's Optuna study) the mutator
        searches in that study, whose ledger claims, beats and tells each trial. Otherwise,
        without a storage of its own, the study lives in the run directory (``study.db``), so
        that a resumed search and ``optuna-dashboard`` find it; in memory for a search without
        a directory.

        Only this search uses a study in its run directory, so it needs no heartbeats: the trial
        a killed search left RUNNING is failed here, without a retry (the resumed search redoes
        it under its own number).
        """
        if isinstance(study, optuna.Study):
            self._join(study)
            return
        if not self._own_storage or directory is None:
            return
        self.close()  # the in-memory study opened before the run directory existed
        self._storage = open_storage(f"sqlite:///{Path(directory).resolve() / STUDY_FILE}")
        self._opened_storage = True
        self._heartbeat_interval = None
        self.study_name = self.study_name or DEFAULT_STUDY_NAME
        self._study = self._open_study()
        _fail_abandoned(self._study)

    def close(self) -> None:
        """Stop the running trials' heartbeats and release the storage's database connections
        (for a storage this mutator opened from a URL or in the run directory)."""
        for _, _, heartbeat in self._running:
            if heartbeat is not None:
                heartbeat.stop()
        self._running.clear()
        if self._opened_storage:
            close_storage(self._storage)

    def _join(self, study: optuna.Study) -> None:
        """Search in ``study``, a shared study whose ledger claims, beats and tells each trial:
        :meth:`propose` then draws on the claimed trial."""
        studied = [d.name.lower() for d in study.directions]
        if self._directions is not None and list(self._directions) != studied:
            raise ConfigError(f"directions {list(self._directions)} differ from the study's {studied}")
        study.sampler = self._make_sampler(self.seed)
        study.pruner = self._pruner
        self.close()  # the study of its own it opened before joining is not used
        self._study, self._joined, self._storage, self._opened_storage = study, True, study._storage, False
        self._heartbeat_interval = None  # the ledger beats for the claimed trials

    def budget_warnings(self, trials: int) -> list[str]:
        """A sampler whose random start (TPE's and GP's ``n_startup_trials``, NSGA's first
        generation) fills the budget searches as random search does."""
        option, default = WARMUPS.get(self.sampler_name, (None, 0))
        warmup = self._sampler_args.get(option, default) if option else 0
        if warmup and warmup >= trials:
            return [
                f"optuna: sampler {self.sampler_name!r} samples its first {warmup} trials at random ({option}), "
                f"which fills the budget of {trials} trials; lower {option} or raise the budget"
            ]
        return []

    def _reseed(self, trial_number: int) -> None:
        if self.seed is not None and self.sampler_name not in SEEDED_ONCE:
            self.study.sampler = self._make_sampler(sampler_seed(self.seed, trial_number))

    # -- the search -------------------------------------------------------------------------------
    def propose(self, claim: Any = None) -> dict[str, Any]:
        """In a shared study, draw on the claimed trial (``claim.handle``, which the ledger took
        for this worker): a retried trial's parameters are fixed in it, so it evaluates the same
        architecture again."""
        handle = getattr(claim, "handle", None)
        if self._joined and isinstance(handle, optuna.trial.FrozenTrial):
            self._reseed(handle.number)
            return self._draw(optuna.Trial(self.study, handle._trial_id), heartbeat=None)
        return super().propose(claim)

    def size(self) -> int | None:
        """The grid sampler proposes its cells only."""
        return self._grid_size if self._grid_size is not None else super().size()

    @property
    def draws_on_claims(self) -> bool:
        """In a shared study, each claim's parameters are drawn on its own trial."""
        return self._joined

    def sample_search(self) -> dict[str, Any]:
        study = self.study
        if self._heartbeat_interval is not None:
            with warnings.catch_warnings():  # experimental in Optuna, and how killed workers are recovered
                warnings.simplefilter("ignore", ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # a dead worker's trial is failed and queued again
        number, self._asked = self._asked, self._asked + 1
        # a study of our own counts this search's proposals; a shared one its own trials, so that
        # mutators sharing it never draw with the same seed
        expected = number if self._own_storage else len(study.get_trials(deepcopy=False))
        self._reseed(expected)  # grid draws its cell when the trial is created
        with warnings.catch_warnings():  # Optuna expects heartbeats from optimize(); we record them ourselves
            warnings.filterwarnings("ignore", "Heartbeat of storage")
            trial = study.ask()
        heartbeat = (
            None if self._heartbeat_interval is None else Heartbeat(self._storage, trial, self._heartbeat_interval)
        )
        if not self._own_storage and trial.number != expected:  # another worker took that number meanwhile
            self._reseed(trial.number)
        return self._draw(trial, heartbeat)

    def _draw(self, trial: optuna.Trial, heartbeat: Heartbeat | None) -> dict[str, Any]:
        """Suggest the trial's parameters, in a conditional space only the active ones (in the
        space's order, which decides a key's conditions before it)."""
        encoding, params, decided, active = self.encoding, {}, {}, set()
        for key in self.space:
            if self.space.conditional and not self.space.is_active(key, decided, active):
                continue
            active.add(key)
            for name in encoding.names[key]:
                params[name] = _suggest(trial, name, encoding.distributions[name])
            decided[key] = encoding.decode_key(key, params)
        arch = encoding.decode(params)
        self._running.append((self.space.to_json(arch), trial, heartbeat))
        return arch

    def _take_running(self, arch: Mapping[str, Any], *, remove: bool) -> optuna.Trial | None:
        """The running trial that sampled ``arch`` (JSON form), most recent first; ``remove`` ends
        its heartbeat."""
        arch = dict(arch)
        for index in range(len(self._running) - 1, -1, -1):
            sampled, trial, heartbeat = self._running[index]
            if sampled == arch:
                if remove:
                    del self._running[index]
                    if heartbeat is not None:
                        heartbeat.stop()
                return trial
        return None

    def report(self, arch: Mapping[str, Any], step: int, metrics: Mapping[str, float]) -> bool:
        """Give the pruner the pruning metric at ``step``; a pruned trial is closed in the study."""
        trial = self._take_running(arch, remove=False)
        if trial is None or self.pruner_name == "none" or len(self.study.directions) > 1:
            return False
        trial.report(float(metrics[self._pruning_metric(metrics)]), step)
        if not trial.should_prune():
            return False
        self.discard(arch, "pruned")
        return True

    def _pruning_metric(self, metrics: Mapping[str, float]) -> str:
        """The reported metric the pruner compares: ``pruning_metric`` if given; else the first
        objective or its per-epoch validation form (``val_accuracy`` for ``accuracy``)."""
        if self.pruning_metric is not None:
            if self.pruning_metric not in metrics:
                raise ConfigError(
                    f"pruning_metric {self.pruning_metric!r} is not reported; reported: {sorted(metrics)}"
                )
            return self.pruning_metric
        objective = self.objectives[0]
        for name in (objective, f"val_{objective}"):
            if name in metrics:
                return name
        raise ConfigError(
            f"pruner {self.pruner_name!r}: the reported metrics {sorted(metrics)} hold neither {objective!r} "
            f"nor 'val_{objective}'; name the one to prune on with pruning_metric"
        )

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """Tell the study the trial's objective values (an architecture it did not sample is added)."""
        missing = [o for o in self.objectives if o not in metrics]
        if missing:
            raise ConfigError(f"objective {missing[0]!r} is missing from the metrics {sorted(metrics)}")
        values = [float(metrics[o]) for o in self.objectives]
        trial = self._take_running(arch, remove=True)
        if self._joined:  # the ledger tells the shared study, which holds every worker's trials
            return
        if trial is None:
            self.study.add_trial(self._frozen_trial(arch, values))
        else:
            self.study.tell(trial, values)

    def discard(self, arch: Mapping[str, Any], state: str) -> None:
        """End the running trial of ``arch`` without a result: ``state`` is ``pruned`` or ``failed``.

        Pruned trials keep their reported values, which TPE uses; failed ones are ignored.
        """
        trial = self._take_running(arch, remove=True)
        if trial is not None and not self._joined:
            self.study.tell(trial, state=END_STATES[state])

    def restore(self, history: Sequence[tuple[Mapping[str, Any], Mapping[str, float], str]]) -> None:
        """Replay ``history`` into an empty study; a persistent study already holds its trials.

        The next proposal is then the search's proposal ``len(history)``, whatever Optuna numbers it.
        """
        study = self.study
        if self._joined:
            return
        self._asked = len(history)
        if study.get_trials(deepcopy=False):
            return
        for arch, metrics, state in history:
            values = [float(metrics[o]) for o in self.objectives] if state == "complete" else None
            study.add_trial(self._frozen_trial(arch, values, _TRIAL_STATES[state]))

    def _frozen_trial(
        self, arch: Mapping[str, Any], values: list[float] | None, state: TrialState = TrialState.COMPLETE
    ) -> optuna.trial.FrozenTrial:
        params = self.encoding.encode(arch)
        distributions = {name: self.encoding.distributions[name] for name in params}
        return optuna.trial.create_trial(params=params, distributions=distributions, values=values, state=state)

    def sample_final(self) -> dict[str, Any]:
        """The best trial's architecture (single objective); otherwise the current one."""
        study = self.study
        if len(study.directions) > 1 or not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            return super().sample_final()
        return self.encoding.decode(study.best_trial.params)


def _fail_abandoned(study: optuna.Study) -> None:
    """Fail, without a retry, the trials a killed process left unfinished in its own study (the
    RUNNING one, and any retry queued by an older version that recorded heartbeats there).

    Grid marks its cell on the trial; an abandoned cell must be drawn again, so the trial is
    first taken out of the grid (a finished trial's attributes cannot change).
    """
    storage = study._storage
    for trial in storage.get_all_trials(study._study_id, deepcopy=False, states=_UNFINISHED):
        if "grid_id" in trial.system_attrs:
            storage.set_trial_system_attr(trial._trial_id, "search_space", {})
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


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
