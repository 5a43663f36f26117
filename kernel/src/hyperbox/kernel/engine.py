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

import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from hyperbox.kernel.components import Resolver, is_spec
from hyperbox.kernel.config import Budget, budget_of, hparams_of, objectives_of, storage_of
from hyperbox.kernel.context import Context, RunInfo
from hyperbox.kernel.errors import ConfigError, HyperboxError, TrialPruned
from hyperbox.kernel.evaluation import ObjectiveEvaluation, TrainerEvaluation, as_metrics
from hyperbox.kernel.events import EventLog
from hyperbox.kernel.hparams import HyperParameters
from hyperbox.kernel.ledger import Ledger, LocalLedger
from hyperbox.kernel.ranking import Ranking
from hyperbox.kernel.rundir import RunDirectory
from hyperbox.kernel.space import SearchSpace, attach_mutables
from hyperbox.kernel.trial import Trial, TrialRecord, trial_seed

__all__ = ["Search", "SearchResult", "search", "seed_everything", "storage_factory"]

#: Placeholder of a storage URL for the run directory (``sqlite:///{run_dir}/study.db``).
RUN_DIR = "{run_dir}"


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
        best: the best complete trial by the first objective (ties go to the earlier trial), or None.
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
    _model_of: Callable[[TrialRecord], Any] | None = attrs.field(default=None, repr=False, eq=False, alias="model_of")

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
            "best": None if self.best is None else _member(self.best),
        }
        if self.best is not None and self.hparams is not None:
            summary["best"]["hparams"] = dict(self.hparams)
        if len(self.objectives) > 1:
            summary["pareto_front"] = [_member(t) for t in self.pareto_front]
        return summary


def _member(trial: TrialRecord) -> dict[str, Any]:
    return {"number": trial.number, "arch": trial.arch, "values": trial.values, "metrics": trial.metrics}


@attrs.define
class _Running:
    trial: Trial
    record: TrialRecord
    decisions: dict[str, Any]
    began: float


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
        hparams: trainer arguments searched with the architecture, ``{"trainer.lr": spec}`` (specs
            as :class:`~hyperbox.kernel.hparams.HyperParameters`); needs a trainer given by name,
            spec or class.
        device: where trainers and estimators compute (``"cpu"``, ``"cuda"``, ``"auto"``).
        directory: a run directory to record the search in (None: in memory, no file written);
            one that holds a search already is continued with ``resume=True``. (A callable
            returning a :class:`~hyperbox.kernel.rundir.RunDirectory` is called once the
            components are built, so that bad arguments leave no directory behind.)
        storage: a storage URL (``sqlite:///study.db``, ``postgresql://...``; ``{run_dir}`` stands
            for the run directory), or ``{"url": URL, **options}``, for a study shared by workers,
            created as ``study``; or a ledger (see :mod:`hyperbox.kernel.ledger`).
        worker: this process's index among workers sharing a study: its mutator is seeded with
            ``seed + worker``, so that workers do not all propose the same architectures.
        name: the search's name (summaries, default study name).
        config: what ``config.yaml`` records (default: a description of these arguments).
        console: log each event on stderr; progress: show a progress bar in :meth:`run`
            (None: on a terminal, when ``console`` is on).
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
        hparams: Mapping[str, Any] | None = None,
        device: str = "cpu",
        directory: str | os.PathLike | RunDirectory | Callable[[], RunDirectory] | None = None,
        resume: bool = False,
        storage: str | Mapping[str, Any] | Ledger | None = None,
        study: str | None = None,
        worker: int = 0,
        name: str = "search",
        config: Mapping[str, Any] | None = None,
        console: bool = False,
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
        self.ranking = Ranking(self.objectives, self.directions)
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
        shape = {
            k: getattr(self.data, k) for k in ("num_classes", "in_channels", "input_shape") if hasattr(self.data, k)
        }
        self.model = resolver.space(space, shape)
        self.hyperparameters = HyperParameters(hparams_of(hparams)) if hparams else None
        if self.hyperparameters is not None:
            attach_mutables(self.model, self.hyperparameters.mutables())
        self.mutator = resolver.mutator(mutator, self.model, {"seed": self.seed + _int("worker", worker), **shape})
        self.mutator.set_objectives(self.objectives, self.directions)
        self.space: SearchSpace = self.mutator.space
        self.evaluation = self._evaluation(resolver, trainer, estimators, objective)
        self._config = dict(config) if config is not None else self._describe(space, mutator, trainer, objective)
        try:
            self._open(directory, resume, storage, study, console, progress)
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
        built = resolver.trainer(trainer)
        estimators = [estimators] if isinstance(estimators, str) or not isinstance(estimators, Iterable) else estimators
        measured = [resolver.estimator(e, f"estimators[{i}]") for i, e in enumerate(estimators)]
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
                    resolver.trainer(trainer, arguments={key.partition(".")[2]: value})
                except ConfigError as error:
                    raise ConfigError(f"hparams.{key}={value!r}: {error}") from None

        def trainer_for(trial: Trial) -> Any:
            values = self.hyperparameters.values_of(trial.arch)
            return resolver.trainer(trainer, arguments={key.partition(".")[2]: v for key, v in values.items()})

        return TrainerEvaluation(built, measured, self.data, trainer_for)

    def _describe(self, space: Any, mutator: Any, trainer: Any, objective: Any) -> dict[str, Any]:
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
            **({"objective_function": _label(objective)} if objective is not None else {}),
            "objective": list(self.objectives),
            "direction": list(self.directions),
            "budget": attrs.asdict(self.budget),
            **({"hparams": self.hyperparameters.specs} if self.hyperparameters is not None else {}),
        }

    def _open(
        self, directory: Any, resume: bool, storage: Any, study: str | None, console: bool, progress: Any
    ) -> None:
        """Open the ledger and the run directory; a search that cannot start leaves nothing behind."""
        shared = storage is not None
        if shared:
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
        url, options = (None, {}) if storage is None or _is_ledger(storage) else storage_of(storage)
        if url is not None:
            from datetime import datetime

            factory = storage_factory(self._manager.registry, url, "search")
            study = study or f"{self.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        self.study_name = study
        #: the shared storage's URL (None: this search's trials are its own)
        self.storage_url: str | None = None
        opened: list[Any] = []  # what this search created, and removes if it cannot start

        def open_ledger(url: str) -> Ledger:
            self._config["storage"] = {"url": url, **options} if options else url
            self.storage_url = url
            try:
                ledger = factory(url, experiment=self._config, study=study, **options)
            except TypeError as error:
                raise ConfigError(f"storage: {error}") from None
            opened.append(ledger)
            return ledger

        self.resumed = resume
        try:
            ledger = storage if url is None else None
            if url is not None and RUN_DIR not in url:
                ledger = open_ledger(url)  # a bad storage fails before any directory exists
            if callable(directory) and not isinstance(directory, RunDirectory):
                directory = directory()
                opened.append(directory)
            elif directory is not None and not isinstance(directory, RunDirectory):
                directory = RunDirectory.at(directory, resume=resume)
                opened.append(directory)
            self.run_directory: RunDirectory | None = directory
            if url is not None and RUN_DIR in url:
                if directory is None:
                    raise ConfigError(f"storage {url!r}: {RUN_DIR} needs a run directory")
                ledger = open_ledger(url.replace(RUN_DIR, str(directory.path.resolve())))
            history = directory.trials() if resume and directory is not None else []
            self.ledger: Ledger = ledger if ledger is not None else LocalLedger(self.budget, history)
            if directory is not None and not resume:
                directory.write_config(self._config)
            self.log = EventLog(None if directory is None else directory.events_file, console=console)
        except BaseException:
            for thing in reversed(opened):
                if isinstance(thing, RunDirectory):
                    if thing.fresh:
                        thing.remove()
                else:
                    thing.close()
            raise
        self._progress_wanted = (console and sys.stderr.isatty()) if progress is None else progress
        self._records: list[TrialRecord] = []
        self._running: dict[int, _Running] = {}
        self._told: set[int] = set()
        self._best_model: tuple[int, Any] | None = None
        self._state = "new"  # new -> started -> closed
        self._previous_s = 0.0
        self._began = time.monotonic()
        self._result: SearchResult | None = None

    # -- what others see ----------------------------------------------------------------------------
    @property
    def directory(self) -> Path | None:
        """The run directory, or None for a search kept in memory."""
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
            trials=tuple(self._records),
            config=self._config,
        )

    # -- the search ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the search (the first :meth:`ask` or :meth:`run` does): learn the trials recorded
        before, and run the trainer's search phase (``fit``) if it has one. Idempotent."""
        if self._state != "new":
            if self._state == "closed":
                raise HyperboxError("the search is closed")
            return
        self._state = "started"
        self._began = time.monotonic()
        self.mutator.bind_run(self.directory, getattr(self.ledger, "study", None))
        history = self.ledger.others()  # a resumed search's trials, or those other workers finished
        self._records.extend(history)
        if self.resumed:
            self._previous_s = sum(t.duration_s for t in history)
        self.log.info("run_start", directory=str(self.directory), resumed=self.resumed, trials_done=len(history))
        self.hook.hyperbox_run_start(run=self.info())
        self.mutator.restore([(t.arch, t.metrics, t.state) for t in history])
        fit = None if self.evaluation is None else self.evaluation.fit
        if fit is not None:
            seed_everything(self.seed)
            fit(self.model, self.mutator, self.data, self._context(None))

    def ask(self) -> Trial | None:
        """The next trial, its decisions applied to the model (``trial.model``, until the next
        ask); None when the budget is spent."""
        self.start()
        claim = self.ledger.claim()
        if claim is None:
            return None
        self._learn(self.ledger.others())
        decisions = self.mutator.reset(claim)
        arch = self.space.to_json(decisions)
        values = self.space.values(decisions)
        record = TrialRecord(number=claim.number, arch=arch, values=values, seed=trial_seed(self.seed, claim.number))
        self.ledger.start(record)
        trial = Trial(claim.number, arch, values, record.seed, self.model, self._report)
        self._running[claim.number] = _Running(trial, record, decisions, time.monotonic())
        self.log.info("trial_start", number=claim.number, arch=arch)
        self.hook.hyperbox_trial_start(run=self.info(), trial=record)
        seed_everything(record.seed)
        return trial

    def tell(self, trial: Trial, result: Any, *, model: Any = None) -> TrialRecord:
        """The result of ``trial``: its metrics (a mapping), its value (a number, or one per
        objective), or the exception that ended it (:class:`~hyperbox.kernel.TrialPruned`: pruned;
        any other: failed). ``model`` is the trained model, kept (and saved) if the trial is the
        best so far. Returns the trial's record."""
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
                metrics.update(as_metrics(result, self.objectives, "tell"))
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
            running.record, state=state, metrics=metrics, error=error, duration_s=time.monotonic() - running.began
        )
        self._finish(record, model)
        if raised is not None:
            raise raised
        return record

    def run(self) -> SearchResult:
        """Evaluate trials until the budget is spent; returns the result (the search is closed)."""
        if self.evaluation is None:
            raise ConfigError("run: give an objective function or a trainer; with neither, use ask() and tell()")
        if self.budget.trials is None and self.budget.seconds is None and isinstance(self.ledger, LocalLedger):
            raise ConfigError("run: budget: give trials and/or seconds (budget=20 or {'trials': 20, 'seconds': 600})")
        status = "complete"
        progress = None
        try:
            self.start()
            if self._progress_wanted:
                from hyperbox.kernel.progress import TrialProgress

                progress = TrialProgress(self.objectives[0], self.budget.trials, done=len(self._records))
            while (trial := self.ask()) is not None:
                running = self._running[trial.number]
                context = self._context(trial)
                try:
                    metrics, model = self.evaluation(trial, running.decisions, context)
                except TrialPruned as pruned:
                    self.tell(trial, pruned)
                except KeyboardInterrupt:
                    raise
                except BaseException as error:
                    self.tell(trial, error)
                    raise
                else:
                    self.tell(trial, metrics, model=model)
                if progress is not None:
                    progress.update(self._records, self.ranking.best(self._records))
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            if progress is not None:
                progress.close()
            result = self.close(status)
        return result

    def result(self) -> SearchResult:
        """The result so far (the search goes on)."""
        return self._make_result("running" if self._state != "closed" else self._result.status)

    def close(self, status: str = "complete") -> SearchResult:
        """End the search: learn what other workers finished, write the summary, release the
        storage and the mutator's resources. Returns the result; closing twice returns it again."""
        if self._state == "closed":
            return self._result
        started, self._state = self._state == "started", "closed"
        try:
            if started:
                self._learn(self.ledger.others())
        finally:
            self.ledger.close()
            self.mutator.close()
        self._result = self._make_result(status)
        summary = self._result.to_json()
        if started and self.run_directory is not None:
            self.run_directory.write_summary(summary)
        self.log.info("run_end", status=status, best=summary["best"])
        if started:
            self.hook.hyperbox_run_end(run=self.info(), summary=summary)
        self.log.close()
        return self._result

    def __enter__(self) -> Search:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        self.close("complete" if kind is None else "interrupted" if kind is KeyboardInterrupt else "failed")

    # -- inside --------------------------------------------------------------------------------------
    def _context(self, trial: Trial | None) -> Context:
        return Context(
            seed=self.seed if trial is None else trial.seed,
            device=self.device,
            log=self.log,
            trial=trial,
            resumed=self.resumed,
            directory=self.directory,
            reporter=self._report_fit,
        )

    def _report(self, trial: Trial, epoch: int, metrics: dict[str, float]) -> None:
        running = self._running.get(trial.number)
        if running is None:
            raise ConfigError(f"report: trial {trial.number} is not running")
        self.log.info("epoch_end", trial=trial.number, epoch=epoch, **metrics)
        self.hook.hyperbox_epoch_end(run=self.info(), trial=running.record, epoch=epoch, metrics=metrics)
        if self.mutator.report(trial.arch, epoch, metrics):
            raise TrialPruned(f"trial {trial.number} pruned at epoch {epoch}")

    def _report_fit(self, epoch: int, metrics: dict[str, float]) -> None:
        self.log.info("epoch_end", trial=None, epoch=epoch, **metrics)
        self.hook.hyperbox_epoch_end(run=self.info(), trial=None, epoch=epoch, metrics=metrics)

    def _learn(self, trials: list[TrialRecord]) -> None:
        """Add trials finished elsewhere and give their results to the mutator."""
        for trial in trials:
            self._records.append(trial)
            if trial.state == "complete":
                self.mutator.observe(trial.arch, trial.metrics)
            else:
                self.mutator.discard(trial.arch, trial.state)

    def _finish(self, record: TrialRecord, model: Any) -> None:
        best = self.ranking.best(self._records)
        self.ledger.finish(record)
        if self.run_directory is not None:
            self.run_directory.append(record)
        self._records.append(record)
        if record.state != "complete":
            self.mutator.discard(record.arch, record.state)
        else:
            self.mutator.observe(record.arch, record.metrics)
            if best is None or self.ranking.key(record) > self.ranking.key(best):
                self._best_model = (record.number, model)
                if self.run_directory is not None:
                    self.run_directory.save_best(record, model, lambda a, b: self.ranking.key(a) > self.ranking.key(b))
        self.log.info("trial_end", number=record.number, state=record.state, **record.metrics)
        self.hook.hyperbox_trial_end(run=self.info(), trial=record)

    def _make_result(self, status: str) -> SearchResult:
        trials = tuple(sorted(self._records, key=lambda t: t.number))
        best = self.ranking.best(trials)
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
            model_of=self._model_of,
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
        weights = None if self.run_directory is None else self.run_directory.best_weights_of(trial)
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


def _is_ledger(storage: Any) -> bool:
    return callable(getattr(storage, "claim", None))


def _label(component: Any) -> Any:
    """A component as ``config.yaml`` records it: a name or spec as given, an object by its type."""
    if is_spec(component):
        return component if not hasattr(component, "to_json") else component.to_json()
    target = component if callable(component) and hasattr(component, "__qualname__") else type(component)
    return f"python:{target.__module__}.{target.__qualname__}"
