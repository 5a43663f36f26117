"""The search engine: ask for a trial, evaluate it, tell the result, until the budget ends.

:class:`Search` takes objects (a model with mutables, a mutator, a trainer or an objective
function...) or, wherever an object is accepted, a registered name or ``{name: ..., **arguments}``.
Users drive it three ways::

    result = search(space=net, mutator="evolution", trainer="standalone", dataset="digits",
                    estimators=["accuracy"], budget=20)                # the whole search
    result = Search(space=net, mutator="random", objective=train_and_score, budget=20).run()

    s = Search(space=net, mutator="random", budget=20)                  # ask and tell
    while (trial := s.ask()) is not None:
        s.tell(trial, {"accuracy": my_train_and_eval(trial.model)})
    result = s.close()

With a ``directory`` the search records itself there (see :mod:`hyperbox.kernel.rundir`) and can
be resumed; without one it writes no file.
"""

from __future__ import annotations

import copy
import gc
import logging
import math
import os
import random
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from hyperbox.kernel.components import Resolver, is_spec
from hyperbox.kernel.config import (
    budget_of,
    hparams_of,
    keep_of,
    max_consecutive_failures_of,
    objectives_of,
    storage_of,
)
from hyperbox.kernel.context import Context, RunInfo
from hyperbox.kernel.dedup import ATTEMPTS, Evaluated, replay
from hyperbox.kernel.errors import ConfigError, HyperboxError, TrialPruned
from hyperbox.kernel.evaluation import ObjectiveEvaluation, TrainerEvaluation, as_metrics
from hyperbox.kernel.events import EventLog
from hyperbox.kernel.hparams import HyperParameters
from hyperbox.kernel.ledger import Budget, Claim, Ledger, LocalLedger
from hyperbox.kernel.ranking import KeptTrials, Ranking
from hyperbox.kernel.rundir import RunDirectory
from hyperbox.kernel.space import SearchSpace, attach_mutables
from hyperbox.kernel.trial import HOST, Trial, TrialRecord, trial_seed

__all__ = ["Search", "SearchResult", "SearchWarning", "search", "seed_everything", "storage_factory"]


class SearchWarning(UserWarning):
    """A search's settings cannot do what they say within its budget (see ``Mutator.budget_warnings``)."""


#: Placeholder of a storage URL for the run directory (``sqlite:///{run_dir}/study.db``).
RUN_DIR = "{run_dir}"
#: How a search ends.
STATUSES = ("complete", "interrupted", "failed")
#: Where a search without a console says what goes wrong (Python's logging: shown by default).
LOGGER = logging.getLogger("hyperbox.search")


def seed_everything(seed: int) -> None:
    """Seed Python's generator, and NumPy's and torch's if they are already imported."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def storage_factory(registry: Any, url: str, where: str) -> Any:
    """The registered factory of ledgers for ``url``'s scheme (see ``hyperbox_register_storages``)."""
    scheme, sep, _ = url.partition(":")
    if not sep or not scheme:
        raise ConfigError(f"{where}: storage {url!r}: expected a URL like sqlite:///study.db")
    names = registry.names("storages")
    if scheme not in names:
        raise ConfigError(
            f"{where}: storage: no plugin stores {scheme!r} URLs (registered: {', '.join(names) or 'none'}); "
            "the hpo plugin (hyperbox-plugin-hpo) provides sqlite, postgresql and mysql"
        )
    return registry.get("storages", scheme).load()


@attrs.frozen
class SearchResult:
    """The outcome of a search.

    Attributes:
        best: the best complete trial by the first objective (ties go to the next objectives, then
            to the earlier trial), or None.
        trials: every finished trial, by number.
        pareto_front: the complete trials no other complete trial dominates (several objectives).
        directory: the run directory, or None for a search kept in memory.
        status: ``complete``, ``interrupted`` or ``failed``.
    """

    name: str
    status: str
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: tuple[TrialRecord, ...]
    best: TrialRecord | None
    pareto_front: tuple[TrialRecord, ...]
    directory: Path | None
    duration_s: float
    hparams: Mapping[str, Any] | None = None
    #: where the best trial's trained weights are (a file here, or ``HOST:PATH`` where it ran)
    best_weights: str | None = None
    _model_of: Callable[[TrialRecord], Any] | None = attrs.field(default=None, repr=False, eq=False, alias="model_of")
    #: an architecture's decisions that matter (the summary leaves the inactive ones out)
    _active_only: Callable[[Mapping[str, Any]], dict[str, Any]] = attrs.field(
        default=dict, repr=False, eq=False, alias="active_only"
    )

    def best_model(self) -> Any:
        """The plain model of the best architecture (a subnet cut from the space), with the weights
        its trainer trained where a trainer produced them."""
        if self.best is None:
            raise HyperboxError("best_model: no trial completed")
        return self._model_of(self.best)

    def to_json(self) -> dict[str, Any]:
        """The summary, as ``summary.json`` holds it."""
        counts = {state: sum(t.state == state for t in self.trials) for state in ("complete", "pruned", "failed")}
        summary: dict[str, Any] = {
            "name": self.name,
            "directory": None if self.directory is None else str(self.directory),
            "status": self.status,
            "objectives": list(self.objectives),
            "directions": list(self.directions),
            "trials": len(self.trials),
            **counts,
            "duration_s": round(self.duration_s, 3),
            "best": None if self.best is None else self._member(self.best),
            "best_weights": self.best_weights,
        }
        if self.best is not None and self.hparams is not None:
            summary["best"]["hparams"] = dict(self.hparams)
        if len(self.objectives) > 1:
            summary["pareto_front"] = [self._member(t) for t in self.pareto_front]
        return summary

    def _member(self, trial: TrialRecord) -> dict[str, Any]:
        arch = self._active_only(trial.arch)
        return {"number": trial.number, "arch": arch, "values": trial.values, "metrics": trial.metrics}


@attrs.define
class _Running:
    trial: Trial
    record: TrialRecord
    decisions: dict[str, Any]
    began: float
    #: proposals skipped as repeats of this trial, given its result when it ends
    repeats: list[dict[str, Any]] = attrs.field(factory=list)


class Search:
    """A search of ``space`` by ``mutator``.

    Args:
        space: the model to search (a ``torch.nn.Module`` with mutables, a
            :class:`~hyperbox.kernel.hparams.HyperParameters`, anything with ``mutables()``), a
            class or function returning one (called with the dataset's ``num_classes``,
            ``in_channels`` and ``input_shape`` where it takes them), or a registered space.
        mutator: the search algorithm: a :class:`~hyperbox.kernel.Mutator` built on ``space``, a
            class or factory called as ``factory(space, seed=...)``, or a registered name
            (``"random"``, ``"evolution"``, ``"optuna"``, ...) or ``{name: ..., **arguments}``.
        trainer, estimators, dataset: evaluate each trial by training it with ``trainer`` on
            ``dataset`` and measuring the trained model with each estimator (objects, classes,
            or registered names and specs).
        objective: or evaluate each trial with ``objective(trial)``, returning a number (the first
            objective's value), one number per objective, or a mapping ``metric -> number``.
            With neither, drive the search yourself with :meth:`ask` and :meth:`tell`.
        objectives, directions: the metrics to optimise (default ``["accuracy"]``) and
            ``"maximize"``/``"minimize"`` for each (default: maximise all).
        budget: trials (an int), or ``{"trials": N, "seconds": S}``; None: no limit (ask and tell).
        seed: seeds the mutator and each trial (trial ``n`` gets its own seed, ``trial.seed``).
        keep: in a run directory, the weights of the ``keep`` best trials are kept
            (``weights/trial-N.pt``), not only the best's; with several objectives, those of the
            whole Pareto front.
        dedup: an architecture the mutator proposes that this search evaluated already (a
            complete, pruned or failed trial, or one running) is not evaluated again: the mutator learns
            the earlier result and is asked for another; skipped proposals spend no budget and are
            listed in the next trial's ``skipped``. A search whose mutator has proposed every
            architecture of its space, or nothing new in 100 tries, ends, saying so. Trials that a
            study shared by workers proposes itself (the ``optuna`` mutator with a storage) are its
            sampler's to choose.
        max_consecutive_failures: in :meth:`run`, a trial that raises is recorded as failed and the
            search goes on, until this many fail in a row (a broken setup): the search then stops
            with the last error (None: never). Bad input (:class:`~hyperbox.kernel.ConfigError`)
            stops it at once, and Ctrl-C stops it so that it resumes.
        hparams: trainer arguments searched with the architecture, ``{"trainer.lr": spec}`` (specs
            as :class:`~hyperbox.kernel.hparams.HyperParameters`); needs a trainer given by name,
            spec or class.
        device: where trainers and estimators compute (``"cpu"``, ``"cuda"``, ``"auto"``).
        directory: a run directory to record the search in (None: in memory, no file written),
            created when the search starts. One that holds a search already is continued with
            ``resume=True`` (which starts afresh where there is none yet). (A callable returning a
            :class:`~hyperbox.kernel.rundir.RunDirectory` is called when the search starts.)
        storage: a storage URL (``sqlite:///study.db``, ``postgresql://...``; ``{run_dir}`` stands
            for the run directory), or ``{"url": URL, **options}``, for a study shared by workers,
            created as ``study`` (default ``NAME-TIMESTAMP``); or a ledger (see
            :mod:`hyperbox.kernel.ledger`). With ``load_if_exists`` a study of that name that
            exists already is joined, as Optuna's ``create_study(load_if_exists=True)`` does: run
            the same script in several processes and they share the study and its budget.
        worker: this process's index among workers sharing a study: its mutator is seeded with
            ``seed + worker``, so that workers do not all propose the same architectures.
        name: the search's name (summaries, default study name).
        config: what ``config.yaml`` records (default: a description of these arguments).
        console: log on stderr: ``True`` (or 1) a line per trial, 2 also each trial's start and
            epochs; progress: show a progress bar in :meth:`run` below those lines (None: on a
            terminal, when ``console`` is on).
        manager: the plugin manager that resolves names and calls hooks (default: the process's).

    Building a search seeds Python's, NumPy's and torch's generators with ``seed`` (before the
    space is built), and each trial seeds them with its own seed when it is asked for, so that a
    search is reproducible.
    """

    def __init__(
        self,
        space: Any,
        mutator: Any = "random",
        *,
        trainer: Any = None,
        estimators: Any = (),
        dataset: Any = None,
        objective: Callable[[Trial], Any] | None = None,
        objectives: str | Sequence[str] | None = None,
        directions: str | Sequence[str] | None = None,
        budget: int | Mapping[str, Any] | Budget | None = None,
        seed: int = 0,
        max_consecutive_failures: int | None = 5,
        keep: int = 1,
        dedup: bool = True,
        hparams: Mapping[str, Any] | None = None,
        device: str = "cpu",
        directory: str | os.PathLike | RunDirectory | Callable[[], RunDirectory] | None = None,
        resume: bool = False,
        storage: str | Mapping[str, Any] | Ledger | None = None,
        study: str | None = None,
        load_if_exists: bool = False,
        worker: int = 0,
        name: str = "search",
        config: Mapping[str, Any] | None = None,
        console: bool | int = False,
        progress: bool | None = None,
        manager: Any = None,
    ) -> None:
        if manager is None:
            from hyperbox.kernel.plugins import get_manager

            manager = get_manager()
        self._manager = manager
        self.name, self.seed, self.device = name, _int("seed", seed), device
        self.objectives, self.directions = objectives_of(objectives, directions, keys=("objectives", "directions"))
        self.budget = budget_of(budget)
        self.max_consecutive_failures = max_consecutive_failures_of(max_consecutive_failures)
        self.ranking = Ranking(self.objectives, self.directions)
        self._kept = KeptTrials(self.ranking, keep_of(keep))
        if not isinstance(dedup, bool):
            raise ConfigError(f"dedup: expected true or false, got {dedup!r}")
        self.dedup = dedup
        if objective is not None and (isinstance(objective, str) or not callable(objective)):
            raise ConfigError(
                f"objective: expected a function objective(trial), got {objective!r} "
                "(name the metrics to optimise with objectives=[...])"
            )
        if objective is not None and trainer is not None:
            raise ConfigError("give either an objective function or a trainer (with estimators), not both")
        resolver = Resolver(lambda: manager.registry)
        self._dataset = dataset
        seed_everything(self.seed)
        self.data = None if dataset is None else resolver.dataset(dataset, self.seed)
        shape = self._data_shape = {
            k: getattr(self.data, k) for k in ("num_classes", "in_channels", "input_shape") if hasattr(self.data, k)
        }
        self.model = resolver.space(space, shape)
        self.hyperparameters = HyperParameters(hparams_of(hparams)) if hparams else None
        if self.hyperparameters is not None:
            attach_mutables(self.model, self.hyperparameters.mutables())
        self._worker = _int("worker", worker)
        self.mutator = resolver.mutator(mutator, self.model, {"seed": self.seed + self._worker, **shape})
        try:
            self.mutator.set_objectives(self.objectives, self.directions)
            self.space: SearchSpace = self.mutator.space
            self.evaluation = self._evaluation(resolver, trainer, estimators, objective)
            self._config = (
                dict(config) if config is not None else self._describe(space, mutator, trainer, estimators, objective)
            )
            if shape:  # what rebuilds the space without its dataset (hbk export)
                self._config["data_shape"] = _json_safe(shape)
            self._prepare(directory, resume, storage, study, load_if_exists, console, progress)
        except BaseException:
            self.mutator.close()  # a study it opened in memory
            raise

    # -- construction -----------------------------------------------------------------------------
    def _evaluation(self, resolver: Resolver, trainer: Any, estimators: Any, objective: Any) -> Any:
        if objective is not None:
            if self.hyperparameters is not None:
                raise ConfigError("hparams: searched trainer arguments need a trainer, not an objective function")
            return ObjectiveEvaluation(objective, self.objectives)
        if trainer is None:
            if self.hyperparameters is not None:
                raise ConfigError("hparams: searched trainer arguments need a trainer")
            return None  # ask and tell: the user evaluates
        if self.data is None:
            raise ConfigError("trainer: needs a dataset to train on (dataset=...)")
        built = resolver.trainer(trainer, shape=self._data_shape)
        measured = [resolver.estimator(e, f"estimators[{i}]") for i, e in enumerate(_as_list(estimators))]
        if self.hyperparameters is None:
            return TrainerEvaluation(built, measured, self.data)
        if getattr(built, "fit", None) is not None:
            raise ConfigError(
                f"hparams: trainer {_label(trainer)!r} trains once, in its search phase (fit), so per-trial "
                "trainer arguments would change nothing"
            )
        # the trainer must accept every value the search may draw, not just the first one
        for key, param in self.hyperparameters.items():
            for value in param.extremes():
                try:
                    resolver.trainer(trainer, arguments={key.partition(".")[2]: value}, shape=self._data_shape)
                except ConfigError as error:
                    raise ConfigError(f"hparams.{key}={value!r}: {error}") from None

        def trainer_for(trial: Trial) -> Any:
            values = self.hyperparameters.values_of(trial.arch)
            arguments = {key.partition(".")[2]: v for key, v in values.items()}
            return resolver.trainer(trainer, arguments=arguments, shape=self._data_shape)

        return TrainerEvaluation(built, measured, self.data, trainer_for)

    def _describe(self, space: Any, mutator: Any, trainer: Any, estimators: Any, objective: Any) -> dict[str, Any]:
        """``config.yaml`` of a search built from Python objects."""
        return {
            "name": self.name,
            "seed": self.seed,
            "device": self.device,
            "created_from": "python",
            "space": _label(space),
            "mutator": _label(mutator),
            **({"dataset": _label(self._dataset)} if self._dataset is not None else {}),
            **({"trainer": _label(trainer)} if trainer is not None else {}),
            **({"estimators": [_label(e) for e in _as_list(estimators)]} if trainer is not None else {}),
            **({"objective_function": _label(objective)} if objective is not None else {}),
            "objective": list(self.objectives),
            "direction": list(self.directions),
            "budget": attrs.asdict(self.budget),
            "max_consecutive_failures": self.max_consecutive_failures,
            "keep": self._kept.count,
            "dedup": self.dedup,
            **({"hparams": _json_safe(self.hyperparameters.specs)} if self.hyperparameters is not None else {}),
        }

    def _prepare(
        self,
        directory: Any,
        resume: bool,
        storage: Any,
        study: str | None,
        load_if_exists: bool,
        console: bool,
        progress: Any,
    ) -> None:
        """Check where the search will be recorded; nothing is created before :meth:`start`."""
        if resume and directory is None:
            raise ConfigError("resume: needs the directory of the search to continue (directory=...)")
        if load_if_exists and not study:
            raise ConfigError("load_if_exists: name the study to join or create (study=...)")
        self._storage_given = storage
        url, self._storage_options = (None, {}) if storage is None or _is_ledger(storage) else storage_of(storage)
        if storage is not None:
            if self.evaluation is not None and self.evaluation.fit is not None:
                raise ConfigError(
                    "trainer: its search phase (fit) cannot be shared between workers; run it without a storage"
                )
            if not self.mutator.supports_parallel:
                raise ConfigError(f"mutator: {type(self.mutator).__name__} cannot share a search between workers")
            if resume:
                raise ConfigError(
                    "a search on a shared storage is resumed by joining its study: "
                    "hbk worker --storage URL --study NAME"
                )
        self._storage_factory = None if url is None else storage_factory(self._manager.registry, url, "search")
        if url is not None and RUN_DIR in url and directory is None:
            raise ConfigError(f"storage {url!r}: {RUN_DIR} needs a run directory")
        #: the shared storage's URL, once the search has started (None: its trials are its own)
        self.storage_url: str | None = None
        self._url = url
        self.study_name = study or (None if url is None else f"{self.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
        self._load_if_exists = load_if_exists
        if directory is not None and not isinstance(directory, RunDirectory) and not callable(directory):
            resume = RunDirectory.check(directory, resume=resume)
        self._directory_given = directory
        self.resumed = resume
        self.run_directory: RunDirectory | None = directory if isinstance(directory, RunDirectory) else None
        self.ledger: Ledger | None = None
        self.log: EventLog | None = None
        self._console = console
        # a worker of a shared study says which one it is, beside the other workers' lines
        self._log_prefix = f"[worker {self._worker}] " if storage is not None else ""
        self._progress_wanted = (bool(console) and sys.stderr.isatty()) if progress is None else progress
        self._records: list[TrialRecord] = []
        self._best: TrialRecord | None = None
        self._evaluated = Evaluated(self.space.active_only)
        self._exhausted = False  # the mutator proposed nothing new
        self._running: dict[int, _Running] = {}
        self._applied: int | None = None  # the trial whose decisions the model carries
        self._told: set[int] = set()
        self._best_model: tuple[int, Any] | None = None
        self._state = "new"  # new -> started -> closed, or broken when start fails
        self._previous_s = 0.0
        self._began = time.monotonic()
        self._result: SearchResult | None = None

    def _check_resumable(self, directory: RunDirectory) -> None:
        """A resumed search continues the recorded one: same seed and objectives (the budget may grow)."""
        recorded = directory.config()
        if recorded.get("storage") is not None:
            raise ConfigError(
                f"resume: the search in {str(directory.path)!r} shares a study; it is resumed by joining it "
                "(hbk worker --storage URL --study NAME, or load_if_exists=True)"
            )
        objectives, directions = objectives_of(recorded.get("objective"), recorded.get("direction"), "config.yaml")
        recorded = {**recorded, "objective": list(objectives), "direction": list(directions)}
        for key, value in (
            ("seed", self.seed),
            ("objective", list(self.objectives)),
            ("direction", list(self.directions)),
        ):
            if key in recorded and recorded[key] != value:
                raise ConfigError(
                    f"resume: {key} {value!r} differs from the search recorded in {str(directory.path)!r} "
                    f"({recorded[key]!r})"
                )

    def _open(self) -> None:
        """Open the ledger and the run directory; a search that cannot start leaves nothing behind."""
        opened: list[Any] = []  # what this search created, and removes or closes if it cannot start
        given = self._directory_given
        try:
            ledger = self._storage_given if self._url is None else None
            if self._url is not None and RUN_DIR not in self._url:
                ledger = self._open_ledger(self._url, opened)  # a bad storage fails before any directory exists
            directory = self.run_directory
            if directory is None and callable(given):
                directory = given()
                opened.append(directory)
            elif directory is None and given is not None:
                directory = RunDirectory.at(given, resume=self.resumed)
                opened.append(directory)
            self.run_directory = directory
            if self._url is not None and RUN_DIR in self._url:
                ledger = self._open_ledger(self._url.replace(RUN_DIR, str(directory.path.resolve())), opened)
            history: list[TrialRecord] = []
            if self.resumed and directory is not None:
                self._check_resumable(directory)
                history = directory.trials()
            self.ledger = ledger if ledger is not None else LocalLedger(self.budget, history)
            if directory is not None:  # a resumed search records the budget it goes on with
                directory.write_config(self._config)
            self.log = EventLog(
                None if directory is None else directory.events_file, console=self._console, prefix=self._log_prefix
            )
        except BaseException:
            for thing in reversed(opened):
                if isinstance(thing, RunDirectory):
                    if thing.fresh:
                        thing.remove()
                else:
                    thing.close()
            self.run_directory = None if self.run_directory in opened else self.run_directory
            raise

    def _open_ledger(self, url: str, opened: list[Any]) -> Ledger:
        options = self._storage_options
        self._config["storage"] = {"url": url, **options} if options else url
        self.storage_url = url
        joining = {"load_if_exists": True} if self._load_if_exists else {}
        try:
            ledger = self._storage_factory(url, experiment=self._config, study=self.study_name, **joining, **options)
        except TypeError as error:
            raise ConfigError(f"storage: {error}") from None
        opened.append(ledger)
        return ledger

    # -- what others see ----------------------------------------------------------------------------
    @property
    def directory(self) -> Path | None:
        """The run directory (once the search has started), or None for a search kept in memory."""
        return None if self.run_directory is None else self.run_directory.path

    @property
    def trials(self) -> list[TrialRecord]:
        """The trials finished so far, in the order they finished."""
        return list(self._records)

    @property
    def hook(self) -> Any:
        return self._manager.hook

    def info(self) -> RunInfo:
        """A read-only description of this search (what lifecycle hooks receive)."""
        return RunInfo(
            name=self.name,
            directory=self.directory,
            objectives=self.objectives,
            directions=self.directions,
            seed=self.seed,
            budget_trials=self.budget.trials,
            budget_seconds=self.budget.seconds,
            resumed=self.resumed,
            trials=_ReadOnly(self._records),
            config=MappingProxyType(copy.deepcopy(self._config)),
        )

    # -- the search ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the search (the first :meth:`ask` or :meth:`run` does): create the run directory
        and the shared study, learn the trials recorded before, and run the trainer's search phase
        (``fit``) if it has one. Idempotent; a search that failed to start cannot be used again."""
        if self._state != "new":
            if self._state in ("closed", "broken"):
                why = "closed" if self._state == "closed" else "broken: it failed to start"
                raise HyperboxError(f"the search is {why}")
            return
        try:
            self._open()
        except BaseException:
            self._state = "broken"
            self.mutator.close()
            raise
        self._state = "started"
        self._began = time.monotonic()
        try:
            self.mutator.bind_run(self.directory, getattr(self.ledger, "study", None))
            history = self.ledger.others()  # a resumed search's trials, or those other workers finished
            self._learn(history, observe=False)
            if self.resumed and self.run_directory is not None:
                self._previous_s = sum(t.duration_s for t in history)
                best = self._best
                self.run_directory.repair_best(
                    None if best is None else attrs.evolve(best, arch=self.space.active_only(best.arch))
                )
            self.log.info("run_start", directory=str(self.directory), resumed=self.resumed, trials_done=len(history))
            if self.budget.trials is not None:
                for message in self.mutator.budget_warnings(self.budget.trials):
                    self.log.record("budget_warning", message=message)
                    warnings.warn(message, SearchWarning, stacklevel=2)
            self._call_hook("hyperbox_run_start")
            self.mutator.restore(replay(history, self.space.active_only))
            fit = None if self.evaluation is None else self.evaluation.fit
            if fit is not None:
                seed_everything(self.seed)
                fit(self.model, self.mutator, self.data, self._context(None))
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt)
            try:
                self._release("interrupted" if interrupted else "failed")
            finally:
                self._state = "broken"
                if isinstance(error, ConfigError):
                    self._discard_empty_directory()
            raise

    def ask(self) -> Trial | None:
        """The next trial, its decisions applied to the model; None when the budget is spent.

        Several trials may be open at once: ``trial.model`` carries a trial's decisions whenever
        that trial reads it (the model is one object, shared by the open trials).
        """
        self.start()
        if self._exhausted:
            return None
        claim = self.ledger.claim()
        if claim is None:
            return None
        self._learn(self.ledger.others())
        proposal = self._propose(claim)
        if proposal is None:
            release = getattr(self.ledger, "release", None)  # ledgers written before release() existed
            if release is not None:
                release(claim)
            return None
        decisions, skipped = proposal
        self._applied = claim.number
        arch = self.space.to_json(decisions)
        values = self.space.values_of(decisions)
        record = TrialRecord(
            number=claim.number, arch=arch, values=values, seed=trial_seed(self.seed, claim.number), skipped=skipped
        )
        self.ledger.start(record)
        trial = Trial(claim.number, arch, values, record.seed, self._model_for, self._report)
        self._running[claim.number] = _Running(trial, record, decisions, time.monotonic())
        self.log.info("trial_start", number=claim.number, values=values)
        self._call_hook("hyperbox_trial_start", trial=record)
        seed_everything(record.seed)
        return trial

    def _propose(self, claim: Claim) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The decisions of ``claim``'s trial and the proposals skipped before them (see ``dedup``);
        None when the mutator proposes only architectures evaluated already."""
        # a claim carrying nothing leaves the mutator to sample, as Mutator.reset() always did
        carries = claim.arch is not None or claim.handle is not None
        if not self.dedup or claim.arch is not None or self.mutator.draws_on_claims:
            return (self.mutator.reset(claim) if carries else self.mutator.reset()), []
        skipped: list[dict[str, Any]] = []
        size = self.mutator.size()
        running = {self._evaluated.identity(r.record.arch): number for number, r in self._running.items()}
        known = len(self._evaluated) + len(running)
        for _ in range(ATTEMPTS if size is None or known < size else 0):
            decisions = self.mutator.reset(claim) if carries else self.mutator.reset()
            arch = self.space.to_json(decisions)
            earlier = self._evaluated.get(arch)
            repeated = running.get(self._evaluated.identity(arch)) if earlier is None else earlier.number
            if repeated is None:
                return decisions, skipped
            skipped.append(arch)
            self.log.record("proposal_skipped", values=self.space.values_of(decisions), repeats=repeated)
            if earlier is not None:
                self._give_result(arch, earlier)  # as if evaluated again
            else:  # it learns the running trial's result when that ends
                self._running[repeated].repeats.append(arch)
        if self._running:  # the results to come may lead the mutator elsewhere: not the end yet
            self.log.record("no_new_proposal", running=sorted(self._running))
            return None
        self._exhausted = True
        why = (
            (
                "the space's only architecture is evaluated"
                if size == 1
                else f"every one of the {size} architectures is evaluated"
            )
            if size is not None and known >= size
            else f"the mutator proposed only architectures evaluated already ({ATTEMPTS} in a row)"
        )
        message = f"{why}: the search ends after {len(self._records)} trials (dedup=False evaluates them again)"
        self.log.record("search_exhausted", message=message)
        warnings.warn(message, SearchWarning, stacklevel=3)
        return None

    def tell(self, trial: Trial, result: Any, *, model: Any = None) -> TrialRecord:
        """The result of ``trial``: its metrics (a mapping), its value (a number, or one per
        objective), or the exception that ended it (:class:`~hyperbox.kernel.TrialPruned`: pruned;
        any other: failed). ``model`` is the trained model (default: the one the trial kept with
        ``trial.keep_model``), kept, and saved in a run directory, if the trial is the best so
        far. Returns the trial's record."""
        if self._state in ("closed", "broken"):
            raise HyperboxError(f"tell: the search is {self._state}")
        number = getattr(trial, "number", None)
        running = self._running.get(number)
        if running is None or running.trial is not trial:
            told = "was told already" if number in self._told else "was never asked by this search"
            raise ConfigError(f"tell: trial {number if number is not None else trial!r} {told}")
        metrics, error = dict(trial.metrics), None
        raised: ConfigError | None = None
        if isinstance(result, TrialPruned):
            state = "pruned"
        elif isinstance(result, BaseException):
            state, error = "failed", f"{type(result).__name__}: {result}"
        else:
            try:
                metrics.update(as_metrics(result, self.objectives, "tell got"))
                missing = [o for o in self.objectives if o not in metrics]
                if missing:
                    hint = getattr(self.evaluation, "hint", "tell its value")
                    raise ConfigError(
                        f"objective {missing[0]!r} is not measured; metrics: {', '.join(sorted(metrics)) or '(none)'} "
                        f"({hint})"
                    )
            except ConfigError as problem:
                raised = problem
                state, error = "failed", f"ConfigError: {problem}"
            else:
                diverged = [o for o in self.objectives if not math.isfinite(metrics[o])]
                if diverged:  # a diverged trial has no result to rank (as Optuna fails it)
                    state, error = "failed", f"objective {diverged[0]!r} is {metrics[diverged[0]]}"
                else:
                    state = "complete"
        del self._running[number]
        self._told.add(number)
        record = attrs.evolve(
            running.record,
            state=state,
            metrics=metrics,
            error=error,
            duration_s=time.monotonic() - running.began,
            host=HOST,
            directory=None if self.directory is None else str(self.directory.resolve()),
        )
        trained = model if model is not None else trial.kept_model
        # the space itself is no trained model
        self._finish(record, None if trained is self.model else trained, running.repeats)
        if raised is not None:
            raise raised
        return record

    def run(self) -> SearchResult:
        """Evaluate trials until the budget is spent; returns the result (the search is closed)."""
        if self.evaluation is None:
            raise ConfigError("run: give an objective function or a trainer; with neither, use ask() and tell()")
        unlimited = self.budget.trials is None and self.budget.seconds is None
        if unlimited and not _is_ledger(self._storage_given):  # a joined study brings its own budget
            raise ConfigError("run: budget: give trials and/or seconds (budget=20 or {'trials': 20, 'seconds': 600})")
        status, bad_input = "complete", False
        progress = None
        try:
            self.start()
            if self._progress_wanted:
                from hyperbox.kernel.progress import TrialProgress

                progress = TrialProgress(
                    self.objectives[0], self.budget.trials, done=len(self._records), console=self.log.console
                )
            failures, last_error = 0, None  # trials that raised, in a row
            while (trial := self.ask()) is not None:
                running = self._running[trial.number]
                out_of_memory = False
                try:
                    metrics, model = self.evaluation(trial, running.decisions, self._context(trial))
                except TrialPruned as pruned:
                    self.tell(trial, pruned)
                    failures = 0
                except (KeyboardInterrupt, SystemExit, HyperboxError) as error:  # bad input stops at once
                    if not isinstance(error, KeyboardInterrupt):
                        self.tell(trial, error)
                    raise
                except Exception as error:
                    record = self._record_failure(trial, error)
                    failures += 1
                    out_of_memory = _out_of_memory(error)
                    last_error = None if out_of_memory else error  # its frames hold the trial's tensors
                else:
                    self.tell(trial, metrics, model=model)
                    failures = 0
                if out_of_memory:  # outside the handler: nothing refers to the trial's tensors any more
                    _free_memory()
                if self.max_consecutive_failures is not None and failures >= self.max_consecutive_failures:
                    message = f"{failures} trials failed in a row; the last, {record.number}: {record.error}"
                    raise HyperboxError(message) from last_error
                if progress is not None:
                    progress.update(self._records, self._best)
            if failures and self._exhausted and self._best is None:  # a small space, every architecture raised
                message = f"every architecture failed; the last, {record.number}: {record.error}"
                raise HyperboxError(message) from last_error
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException as error:
            status = "failed"
            bad_input = isinstance(error, ConfigError)
            raise
        finally:
            if progress is not None:
                progress.close()
            result = self.close(status)
            if status == "failed" and bad_input:
                self._discard_empty_directory()
        return result

    def follow(self) -> None:
        """Take part in the trainings of a search that rank 0 of ``torch.distributed`` runs (on any
        other rank): the trainer's ``follow(model, mutator, data, context)`` trains what rank 0's
        trainer trains, on this rank's share of the data, until that search ends. Nothing is written."""
        follow = getattr(getattr(self.evaluation, "trainer", None), "follow", None)
        if follow is None:
            raise ConfigError("trainer: cannot train on several processes (it has no follow method)")
        self.log = EventLog(None, console=False)
        self._state = "started"
        try:
            seed_everything(self.seed)
            follow(self.model, self.mutator, self.data, self._context(None))
        finally:
            self._state = "closed"
            self.mutator.close()

    def result(self) -> SearchResult:
        """The result so far (the final one once the search is closed)."""
        return self._result if self._result is not None else self._make_result("running")

    def close(self, status: str = "complete") -> SearchResult:
        """End the search with ``status`` (``complete``, ``interrupted`` or ``failed``): record the
        trials asked for but never told as failed (unless the search was interrupted: a resumed
        search runs them again), learn what other workers finished, write the summary and release
        the storage and the mutator. Returns the result; closing again returns it again."""
        if status not in STATUSES:
            raise ConfigError(f"close: status {status!r} is not one of {', '.join(STATUSES)}")
        if self._state in ("closed", "broken"):
            if self._result is None:  # it failed to open; everything is released already
                self._result = self._make_result("failed")
            return self._result
        started = self._state == "started"
        try:
            if started and status != "interrupted":
                for number in sorted(self._running):
                    try:
                        self.tell(self._running[number].trial, HyperboxError("not told before the search closed"))
                    except Exception as error:  # recorded already; the others must be too
                        self.log.info("tell_failed", number=number, error=f"{type(error).__name__}: {error}")
        finally:
            self._release(status, started)
        return self._result

    def __enter__(self) -> Search:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        self.close("complete" if kind is None else "interrupted" if kind is KeyboardInterrupt else "failed")

    # -- inside --------------------------------------------------------------------------------------
    def _release(self, status: str, started: bool = True) -> None:
        """Close the search: learn, release, write the summary (a search never started wrote
        nothing and writes nothing). Each step runs even when one before it fails."""
        self._state = "closed"
        try:
            if started:
                self._learn(self.ledger.others())
        finally:
            try:
                if self.ledger is not None:
                    self.ledger.close()
            finally:
                try:
                    self.mutator.close()
                    if self.evaluation is not None:
                        self.evaluation.close()  # a trainer's processes, other ranks of a distributed training
                finally:
                    if started and self.run_directory is not None:
                        self.run_directory.adopt_best(self._best)
                    self._result = self._make_result(status)
                    if started:
                        self._write_end(status)

    def _write_end(self, status: str) -> None:
        summary = self._result.to_json()
        try:
            if self.run_directory is not None:
                self.run_directory.write_summary(summary)
            self.log.info("run_end", status=status, best=summary["best"])
            self._call_hook("hyperbox_run_end", summary=summary)
        finally:
            self.log.close()

    def _discard_empty_directory(self) -> None:
        """A search stopped by bad input in a directory it created, leaving nothing worth keeping
        (no complete trial, no component state), leaves no directory."""
        directory = self.run_directory
        if directory is not None and directory.fresh and not self.resumed and not directory.holds_work():
            directory.remove()

    def _record_failure(self, trial: Trial, error: Exception) -> TrialRecord:
        """Tell a trial that raised as failed, its traceback in the event log; without a console
        (a script), a warning says so, as Optuna's log does."""
        self.log.info("trial_error", number=trial.number, traceback="".join(traceback.format_exception(error)).rstrip())
        record = self.tell(trial, error)
        if not self._console:
            LOGGER.warning("trial %d failed with %s: %s", trial.number, record.values, record.error)
        return record

    def _call_hook(self, name: str, **arguments: Any) -> None:
        """Call lifecycle hook ``name`` with the search's description (built only when a plugin listens)."""
        caller = getattr(self.hook, name)
        if caller.get_hookimpls():
            caller(run=self.info(), **arguments)

    def _model_for(self, trial: Trial) -> Any:
        """The model with ``trial``'s decisions applied (re-applied when another trial's were)."""
        if self._applied != trial.number:
            running = self._running.get(trial.number)
            self.space.apply(running.decisions if running is not None else trial.arch)
            self._applied = trial.number
        return self.model

    def _context(self, trial: Trial | None) -> Context:
        return Context(
            seed=self.seed if trial is None else trial.seed,
            device=self.device,
            log=self.log,
            trial=trial,
            resumed=self.resumed,
            directory=self.directory,
            on_report=None if trial is not None else self._report_fit,
        )

    def _report(self, trial: Trial, epoch: int, metrics: dict[str, float]) -> None:
        if self._state == "closed":
            raise HyperboxError("report: the search is closed")
        running = self._running.get(trial.number)
        if running is None:
            raise ConfigError(f"report: trial {trial.number} is not running")
        self.log.info("epoch_end", trial=trial.number, epoch=epoch, **metrics)
        self._call_hook("hyperbox_epoch_end", trial=running.record, epoch=epoch, metrics=metrics)
        if self.mutator.report(trial.arch, epoch, metrics):
            raise TrialPruned(f"trial {trial.number} pruned at epoch {epoch}")

    def _report_fit(self, epoch: int, metrics: dict[str, float]) -> None:
        self.log.info("epoch_end", trial=None, epoch=epoch, **metrics)
        self._call_hook("hyperbox_epoch_end", trial=None, epoch=epoch, metrics=metrics)

    def _learn(self, trials: list[TrialRecord], observe: bool = True) -> None:
        """Add trials finished elsewhere (and, with ``observe``, give their results to the mutator)."""
        for trial in trials:
            self._records.append(trial)
            self._evaluated.add(trial)
            self._rank(trial)
            self._kept.add(trial)
            if observe:
                self._give_result(trial.arch, trial)

    def _give_result(self, arch: dict[str, Any], trial: TrialRecord) -> None:
        """Tell the mutator the result of ``trial`` for its proposal ``arch``."""
        if trial.state == "complete":
            self.mutator.observe(arch, trial.metrics)
        else:
            self.mutator.discard(arch, trial.state)

    def _rank(self, trial: TrialRecord) -> bool:
        """Keep the best trial so far; True when ``trial`` is the new best."""
        if trial.state != "complete":
            return False
        if self._best is not None and self.ranking.key(trial) <= self.ranking.key(self._best):
            return False
        self._best = trial
        return True

    def _finish(self, record: TrialRecord, model: Any, repeats: list[dict[str, Any]]) -> None:
        best = self._rank(record)
        if best and self.run_directory is not None:  # before anyone learns of the trial: its files are there
            exported = attrs.evolve(record, arch=self.space.active_only(record.arch))  # best_arch.json
            self.run_directory.save_best(exported, model, lambda a, b: self.ranking.key(a) > self.ranking.key(b))
        self.ledger.finish(record)
        if self.run_directory is not None:
            self.run_directory.append(record)
        self._records.append(record)
        self._evaluated.add(record)
        self._give_result(record.arch, record)
        for arch in repeats:  # proposals skipped while it ran
            self._give_result(arch, record)
        if best:
            self._best_model = (record.number, model)
        self._keep_weights(record, model)
        failure = {} if record.error is None else {"error": record.error}
        self.log.info(
            "trial_end",
            number=record.number,
            state=record.state,
            values=record.values,
            duration_s=round(record.duration_s, 3),
            **failure,
            **record.metrics,
        )
        self._call_hook("hyperbox_trial_end", trial=record)

    def _keep_weights(self, record: TrialRecord, model: Any) -> None:
        """Keep the weights of the ``keep`` best trials (several objectives: the Pareto front's), in
        a run directory of this search's own (workers sharing one keep the best's alone)."""
        several = len(self.objectives) > 1
        directory = self.run_directory
        if directory is None or directory.shared or not (several or self._kept.count > 1):
            return
        kept, dropped = self._kept.add(record)
        if kept:
            directory.keep_weights(record.number, model)
        for number in dropped:
            directory.drop_weights(number)

    def _make_result(self, status: str) -> SearchResult:
        trials = tuple(sorted(self._records, key=lambda t: t.number))
        best = self._best
        hparams = None
        if best is not None and self.hyperparameters is not None:
            hparams = self.hyperparameters.values_of(best.arch)
        return SearchResult(
            name=self.name,
            status=status,
            objectives=self.objectives,
            directions=self.directions,
            trials=trials,
            best=best,
            pareto_front=tuple(self.ranking.pareto_front(trials)),
            directory=self.directory,
            duration_s=self._previous_s + time.monotonic() - self._began,
            hparams=hparams,
            best_weights=None if self.run_directory is None else self.run_directory.best_weights_location(best),
            model_of=self._model_of,
            active_only=self.space.active_only,
        )

    def _model_of(self, trial: TrialRecord) -> Any:
        """``trial``'s trained model if this search kept it, else its subnet built from the space
        (with the run directory's best weights when they are this trial's)."""
        if self._best_model is not None and self._best_model[0] == trial.number and self._best_model[1] is not None:
            return self._best_model[1]
        model = self.hook.hyperbox_build_subnet(model=self.model, arch=trial.arch)
        if model is None:
            raise HyperboxError(
                f"best_model: no plugin builds a model from {type(self.model).__name__}; "
                "the best decisions are result.best.values"
            )
        weights = None if self.run_directory is None else self.run_directory.best_weights_of(trial.number)
        elsewhere = None if self.run_directory is None else self.run_directory.best_weights_location(trial)
        if weights is None and elsewhere is not None:
            raise HyperboxError(f"best_model: the weights of trial {trial.number} are in {elsewhere}")
        if weights is not None and hasattr(model, "load_state_dict"):
            from hyperbox.kernel.files import load_state_dict

            model.load_state_dict(load_state_dict(weights))
        return model


def search(space: Any, mutator: Any = "random", **arguments: Any) -> SearchResult:
    """``Search(space, mutator, **arguments).run()``: search until the budget is spent."""
    return Search(space, mutator, **arguments).run()


# -- argument checks ---------------------------------------------------------------------------------
def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    return value


class _ReadOnly(Sequence):
    """A read-only view of a list (the trials so far, for hooks), made without copying it."""

    def __init__(self, items: list) -> None:
        self._items = items

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)


def _as_list(estimators: Any) -> list:
    """One estimator, or several."""
    if isinstance(estimators, (str, Mapping)) or not isinstance(estimators, Iterable):
        return [estimators]
    return list(estimators)


def _out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or "OutOfMemory" in type(error).__name__


def _free_memory() -> None:
    """Give back what a trial that ran out of memory held: its tensors, and the device's cache."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _is_ledger(storage: Any) -> bool:
    return callable(getattr(storage, "claim", None))


def _label(component: Any) -> Any:
    """A component as ``config.yaml`` records it: a name or spec as given (objects inside it by
    their type), an object by its type."""
    if isinstance(component, str):
        return component
    if is_spec(component):
        return _json_safe(component.to_json() if hasattr(component, "to_json") else component)
    return _python_label(component)


def _python_label(value: Any) -> str:
    target = value if callable(value) and hasattr(value, "__qualname__") else type(value)
    return f"python:{target.__module__}.{target.__qualname__}"


def _json_safe(value: Any) -> Any:
    """``value`` with every part that JSON and YAML cannot hold replaced by its Python label."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if getattr(value, "shape", None) == () and hasattr(value, "item"):  # a NumPy or torch scalar
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return _python_label(value)
