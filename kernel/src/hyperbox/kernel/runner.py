"""The experiment runner: build the components, run the trials, write the run directory.

A run directory ``runs/<name>-<timestamp>/`` holds ``config.yaml`` (the resolved experiment),
``events.jsonl``, ``trials.jsonl`` (one record per finished trial, appended and flushed),
``best_arch.json``, ``best_weights.pt`` (a ``state_dict``) and ``summary.json``.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import yaml

from hyperbox.kernel.config import Experiment, check_components, parse_experiment
from hyperbox.kernel.errors import ConfigError, HyperboxError, TrialPruned
from hyperbox.kernel.events import EventLog
from hyperbox.kernel.files import append_jsonl, locked, read_jsonl, save_state_dict, write_json, write_text
from hyperbox.kernel.hparams import HyperParameters
from hyperbox.kernel.ledger import Claim, Ledger, LocalLedger, Trial
from hyperbox.kernel.plugins import PluginManager, get_manager
from hyperbox.kernel.space import attach_mutables

CONFIG_FILE, TRIALS_FILE, SUMMARY_FILE = "config.yaml", "trials.jsonl", "summary.json"
BEST_ARCH_FILE, BEST_WEIGHTS_FILE, EVENTS_FILE = "best_arch.json", "best_weights.pt", "events.jsonl"
#: Taken by workers sharing a run directory while they compare and write the best trial's files.
BEST_LOCK_FILE = ".best.lock"
#: Placeholder of a storage URL for the run directory (``sqlite:///{run_dir}/study.db``).
RUN_DIR = "{run_dir}"


class Context:
    """What trainers and estimators receive besides the model and the data."""

    def __init__(self, run: Run, trial: Trial | None) -> None:
        self.run = run
        self.trial = trial
        self.device = run.experiment.device
        self.seed = trial.seed if trial is not None else run.experiment.seed
        self.log = run.log

    @property
    def resumed(self) -> bool:
        return self.run.resumed

    @property
    def directory(self) -> Path:
        return self.run.directory

    def state_path(self, name: str) -> Path:
        """A file in the run directory for a trainer's own state (checkpoints for resume)."""
        return self.run.directory / name

    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Report an epoch's metrics; raises :class:`TrialPruned` if the search stops the trial."""
        metrics = {k: float(v) for k, v in metrics.items()}
        self.run.log.info("epoch_end", trial=self.trial.number if self.trial else None, epoch=epoch, **metrics)
        self.run.hook.hyperbox_epoch_end(run=self.run, trial=self.trial, epoch=epoch, metrics=metrics)
        if self.trial is not None:
            self.trial.metrics.update(metrics)
            if self.run.mutator.report(self.trial.arch, epoch, metrics):
                raise TrialPruned(f"trial {self.trial.number} pruned at epoch {epoch}")


def seed_everything(seed: int) -> None:
    """Seed Python's generator, and NumPy's and torch's if they are already imported."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def trial_seed(seed: int, number: int) -> int:
    """Each trial's own seed, so a resumed run retrains a trial exactly as the first run would."""
    return (seed * 1_000_003 + number * 7919) % 2**31


def _call(factory: Any, args: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    """Call ``factory(**args)`` adding those ``extra`` arguments it accepts and ``args`` lacks."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in extra.items() if (k in parameters or takes_any) and k not in args}
    return factory(**args, **kwargs)


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


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


class Run:
    """One run of an experiment, fresh or resumed, alone or as one worker of several.

    Args:
        experiment: the validated experiment; its ``storage`` (a URL, ``{run_dir}`` standing for
            the run directory) makes the run create a shared record there, holding the whole
            trial budget, that workers join (see :mod:`hyperbox.kernel.ledger`).
        resume: continue the killed run in this directory.
        ledger: a shared ledger to work for (``hbk worker``) instead of the experiment's storage.
        directory: an existing run directory to share with the other local workers of a run; the
            run then writes its own trials there but neither ``config.yaml`` nor ``summary.json``.
        worker: this worker's index; its mutator is seeded with ``seed + worker`` so that workers
            of one experiment do not all propose the same architectures.
        study: the name of the shared record the run creates (default ``NAME-TIMESTAMP``).
    """

    def __init__(
        self,
        experiment: Experiment,
        *,
        resume: str | os.PathLike | None = None,
        manager: PluginManager | None = None,
        console: bool = True,
        progress: bool | None = None,
        ledger: Ledger | None = None,
        directory: str | os.PathLike | None = None,
        worker: int = 0,
        study: str | None = None,
    ) -> None:
        self.experiment = experiment
        self.manager = manager or get_manager()
        self.registry = self.manager.registry
        self.hook = self.manager.hook
        self.resumed = resume is not None
        self.owns_directory = directory is None
        self.worker = worker
        self.console = console
        self.progress = sys.stderr.isatty() if progress is None else progress
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        check_components(experiment, self.registry)
        self._build()
        shared = ledger is not None or experiment.storage is not None
        if shared:
            self._check_parallel()
        if experiment.storage is not None and ledger is None and self.resumed:
            raise ConfigError(
                f"{experiment.source}: a run on a shared storage is resumed by joining its study: "
                "hbk worker --storage URL --study NAME"
            )
        self.study_name = study or f"{experiment.name}-{stamp}"
        storage = None if ledger is not None else experiment.storage
        factory = None if storage is None else storage_factory(self.registry, storage, experiment.source)
        if factory is not None and RUN_DIR not in storage:
            ledger = self._open_storage(factory, storage)  # a bad storage fails before any directory exists
        fresh = resume is None and directory is None
        self.directory = self._new_directory(stamp) if fresh else Path(resume if resume is not None else directory)
        self.log: EventLog | None = None
        try:
            if factory is not None and RUN_DIR in storage:
                ledger = self._open_storage(factory, storage.replace(RUN_DIR, str(self.directory.resolve())))
            if ledger is None:
                history = [Trial(**record) for record in read_jsonl(self.directory / TRIALS_FILE)]
                ledger = LocalLedger(experiment.budget, history)
            self.ledger: Ledger = ledger
            self.log = EventLog(self.directory / EVENTS_FILE, console=console)
            if not self.resumed and self.owns_directory:
                write_text(self.directory / CONFIG_FILE, yaml.safe_dump(self.experiment.to_json(), sort_keys=False))
            self.trials: list[Trial] = []
            self.ledger.attach(self)
            self.mutator.bind_run(self.directory)
        except BaseException:
            if self.log is not None:
                self.log.close()
            if fresh:  # nothing half-written: a run that could not start leaves no directory
                shutil.rmtree(self.directory, ignore_errors=True)
            raise

    @classmethod
    def resume(cls, directory: str | os.PathLike, **kwargs: Any) -> Run:
        directory = Path(directory)
        config = directory / CONFIG_FILE
        if not config.is_file():
            raise ConfigError(f"{directory}: not a run directory (no {CONFIG_FILE})")
        summary = directory / SUMMARY_FILE
        kind = json.loads(summary.read_text(encoding="utf-8")).get("kind") if summary.is_file() else None
        if kind not in (None, "search"):
            raise ConfigError(f"{directory}: a {kind} directory, not a search to resume")
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        experiment = parse_experiment(data, str(config))
        return cls(experiment, resume=directory, **kwargs)

    # -- construction -------------------------------------------------------------------------
    def _component(self, kind: str, spec, extra: Mapping[str, Any], where: str) -> Any:
        factory = self.registry.get(kind, spec.name).load()
        try:
            return _call(factory, spec.args, extra)
        except HyperboxError:
            raise
        except (ValueError, TypeError, FileNotFoundError) as error:
            raise ConfigError(f"{self.experiment.source}: {where} {spec.name!r}: {error}") from error

    def _build(self) -> None:
        experiment = self.experiment
        seed_everything(experiment.seed)
        self.data = self._component("datasets", experiment.dataset, {"seed": experiment.seed}, "dataset")
        shape = {
            k: getattr(self.data, k) for k in ("num_classes", "in_channels", "input_shape") if hasattr(self.data, k)
        }
        self.model = self._component("spaces", experiment.space, shape, "space")
        self.hyperparameters = HyperParameters(experiment.hparams) if experiment.hparams else None
        if self.hyperparameters is not None:
            attach_mutables(self.model, self.hyperparameters.mutables())
        factory = self.registry.get("mutators", experiment.mutator.name).load()
        try:
            extra = {"seed": experiment.seed + self.worker, **shape}
            self.mutator = _call(functools.partial(factory, self.model), experiment.mutator.args, extra)
        except HyperboxError:
            raise
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{experiment.source}: mutator {experiment.mutator.name!r}: {error}") from error
        self.mutator.set_objectives(experiment.objectives, experiment.directions)
        self.trainer = self._component("trainers", experiment.trainer, {}, "trainer")
        if self.hyperparameters is not None:
            if getattr(self.trainer, "fit", None) is not None:
                raise ConfigError(
                    f"{experiment.source}: hparams: trainer {experiment.trainer.name!r} trains once, in its search "
                    "phase (fit), so per-trial trainer arguments would change nothing"
                )
            # the trainer must accept every value the search may draw, not just the first one
            for key, param in self.hyperparameters.items():
                for value in param.extremes():
                    try:
                        self.trainer_with({key.partition(".")[2]: value})
                    except ConfigError as error:
                        reason = str(error).removeprefix(f"{experiment.source}: ")
                        raise ConfigError(f"{experiment.source}: hparams.{key}={value!r}: {reason}") from None
        self.estimators = [
            self._component("estimators", spec, {}, f"estimators[{i}]") for i, spec in enumerate(experiment.estimators)
        ]

    def _check_parallel(self) -> None:
        """Workers share trials, not a search phase: each would train its own supernet."""
        source = self.experiment.source
        if getattr(self.trainer, "fit", None) is not None:
            raise ConfigError(
                f"{source}: trainer {self.experiment.trainer.name!r} has a search phase (fit) "
                "that cannot be shared between workers; run it without a storage"
            )
        if not self.mutator.supports_parallel:
            raise ConfigError(
                f"{source}: mutator {self.experiment.mutator.name!r} cannot share a search between workers"
            )

    def _open_storage(self, factory: Any, url: str) -> Ledger:
        """Create the shared record of this run's experiment (and its budget) at ``url``."""
        self.experiment = attrs.evolve(self.experiment, storage=url)
        try:
            return factory(
                url, experiment=self.experiment.to_json(), study=self.study_name, **self.experiment.storage_options
            )
        except TypeError as error:
            raise ConfigError(f"{self.experiment.source}: storage: {error}") from None

    def _new_directory(self, stamp: str) -> Path:
        base = Path(self.experiment.output_dir) / f"{self.experiment.name}-{stamp}"
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"{self.experiment.source}: output_dir {str(base.parent)!r}: {error.strerror}") from None
        for suffix in range(1000):
            directory = base.with_name(base.name + (f"-{suffix}" if suffix else ""))
            try:
                directory.mkdir()
                return directory
            except FileExistsError:
                continue
        raise HyperboxError(f"{base}: cannot create a fresh run directory")

    # -- the search ---------------------------------------------------------------------------
    def _values(self, metrics: Mapping[str, float]) -> list[float]:
        """Objective values signed so that higher is better."""
        return [
            float(metrics[o]) if d == "maximize" else -float(metrics[o])
            for o, d in zip(self.experiment.objectives, self.experiment.directions)
        ]

    def _rank(self, trial: Trial) -> tuple[float, int]:
        """Best first objective first; on a tie, the earlier trial."""
        return self._values(trial.metrics)[0], -trial.number

    def best_trial(self) -> Trial | None:
        complete = [t for t in self.trials if t.state == "complete"]
        return max(complete, key=self._rank, default=None)

    def pareto_front(self) -> list[Trial]:
        complete = [t for t in self.trials if t.state == "complete"]
        values = {t.number: self._values(t.metrics) for t in complete}
        return [t for t in complete if not any(dominates(values[o.number], values[t.number]) for o in complete)]

    def execute(self) -> dict[str, Any]:
        """Run (or finish) the search; returns the summary."""
        experiment = self.experiment
        started = time.monotonic()
        self.trials.extend(self.ledger.others())  # a resumed run's trials, or those other workers finished
        previous_s = sum(t.duration_s for t in self.trials) if self.resumed else 0.0
        self.log.info("run_start", directory=str(self.directory), resumed=self.resumed, trials_done=len(self.trials))
        self.hook.hyperbox_run_start(run=self)
        self.mutator.restore([(t.arch, t.metrics, t.state) for t in self.trials])
        status = "complete"
        progress = self._progress()
        try:
            fit = getattr(self.trainer, "fit", None)
            if fit is not None:
                seed_everything(experiment.seed)
                fit(self.model, self.mutator, self.data, Context(self, None))
            while (claim := self.ledger.claim()) is not None:
                self._learn(self.ledger.others())
                self._run_trial(claim)
                if progress is not None:
                    progress.update(self.trials, self.best_trial())
            self._learn(self.ledger.others())
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            self.ledger.close()
            self.mutator.close()
            if progress is not None:
                progress.close()
            summary = self._end(status, previous_s + time.monotonic() - started)
        return summary

    def gather(self, status: str, duration_s: float) -> dict[str, Any]:
        """Collect the trials every worker recorded in the ledger and write the summary (for the
        process that started the workers instead of running trials itself)."""
        try:
            self._learn(self.ledger.others())
        finally:
            self.ledger.close()
            self.mutator.close()
        self.trials.sort(key=lambda t: t.number)
        return self._end(status, duration_s)

    def _end(self, status: str, duration_s: float) -> dict[str, Any]:
        summary = self._summary(status, duration_s)
        if self.owns_directory:
            write_json(self.directory / SUMMARY_FILE, summary)
        self.log.info("run_end", status=status, best=summary["best"])
        self.hook.hyperbox_run_end(run=self, summary=summary)
        self.log.close()
        return summary

    def _learn(self, trials: list[Trial]) -> None:
        """Add trials finished elsewhere and give their results to the mutator."""
        for trial in trials:
            self.trials.append(trial)
            if trial.state == "complete":
                self.mutator.observe(trial.arch, trial.metrics)
            else:
                self.mutator.discard(trial.arch, trial.state)

    def _run_trial(self, claim: Claim) -> Trial:
        number = claim.number
        arch = self.mutator.reset() if claim.arch is None else self.mutator.apply(claim.arch)
        trial = Trial(
            number=number, arch=self.mutator.space.to_json(arch), seed=trial_seed(self.experiment.seed, number)
        )
        self.ledger.start(trial)
        self.log.info("trial_start", number=number, arch=trial.arch)
        self.hook.hyperbox_trial_start(run=self, trial=trial)
        context = Context(self, trial)
        begin = time.monotonic()
        model = None
        seed_everything(trial.seed)
        try:
            model = self._trainer_for_trial().trial(self.model, arch, self.data, context)
            metrics: dict[str, float] = {}
            for estimator in self.estimators:
                metrics.update({k: float(v) for k, v in estimator(model, self.data, context).items()})
            trial.metrics.update(metrics)
            missing = [o for o in self.experiment.objectives if o not in trial.metrics]
            if missing:
                raise ConfigError(
                    f"{self.experiment.source}: objective {missing[0]!r} is not measured; "
                    f"metrics: {', '.join(sorted(trial.metrics)) or '(none)'} (add an estimator)"
                )
            diverged = [o for o in self.experiment.objectives if not math.isfinite(trial.metrics[o])]
            if diverged:  # a diverged trial has no result to rank (as Optuna fails it)
                trial.state, trial.error = "failed", f"objective {diverged[0]!r} is {trial.metrics[diverged[0]]}"
            else:
                trial.state = "complete"
        except TrialPruned:
            trial.state = "pruned"
        except BaseException as error:
            trial.state, trial.error = "failed", f"{type(error).__name__}: {error}"
            raise
        finally:
            trial.duration_s = time.monotonic() - begin
            if not isinstance(sys.exc_info()[1], KeyboardInterrupt):
                self._finish_trial(trial, model)
        return trial

    def _trainer_for_trial(self) -> Any:
        """The trainer, built with the trial's searched hyper-parameters (``hparams``) if any."""
        if self.hyperparameters is None:
            return self.trainer
        return self.trainer_with({key.partition(".")[2]: value for key, value in self.hyperparameters.values().items()})

    def trainer_with(self, arguments: Mapping[str, Any]) -> Any:
        """A new trainer of the experiment's kind, its arguments updated with ``arguments``."""
        spec = self.experiment.trainer
        return self._component("trainers", attrs.evolve(spec, args={**spec.args, **arguments}), {}, "trainer")

    def _finish_trial(self, trial: Trial, model: Any) -> None:
        best = self.best_trial()
        self.ledger.finish(trial)
        append_jsonl(self.directory / TRIALS_FILE, trial.to_json())
        self.trials.append(trial)
        if trial.state != "complete":
            self.mutator.discard(trial.arch, trial.state)
        else:
            self.mutator.observe(trial.arch, trial.metrics)
            if best is None or self._rank(trial) > self._rank(best):
                self._save_best(trial, model)
        self.log.info("trial_end", number=trial.number, state=trial.state, **trial.metrics)
        self.hook.hyperbox_trial_end(run=self, trial=trial)

    def _save_best(self, trial: Trial, model: Any) -> None:
        """Write the best trial's architecture and weights; workers sharing the directory take
        turns and write only when no trial they recorded there is better."""
        if not self.owns_directory:
            with locked(self.directory / BEST_LOCK_FILE):
                rank = self._rank(trial)
                recorded = [Trial(**r) for r in read_jsonl(self.directory / TRIALS_FILE)]
                if any(r.state == "complete" and r.number != trial.number and self._rank(r) > rank for r in recorded):
                    return
                self._write_best(trial, model)
        else:
            self._write_best(trial, model)

    def _write_best(self, trial: Trial, model: Any) -> None:
        write_json(self.directory / BEST_ARCH_FILE, trial.arch)
        if hasattr(model, "state_dict"):
            save_state_dict(self.directory / BEST_WEIGHTS_FILE, model.state_dict())

    def _summary(self, status: str, duration_s: float) -> dict[str, Any]:
        best = self.best_trial()
        counts = {state: sum(t.state == state for t in self.trials) for state in ("complete", "pruned", "failed")}
        summary: dict[str, Any] = {
            "name": self.experiment.name,
            "directory": str(self.directory),
            "status": status,
            "objectives": list(self.experiment.objectives),
            "directions": list(self.experiment.directions),
            "trials": len(self.trials),
            **counts,
            "duration_s": round(duration_s, 3),
            "best": None if best is None else {"number": best.number, "arch": best.arch, "metrics": best.metrics},
        }
        if best is not None and self.hyperparameters is not None:
            summary["best"]["hparams"] = self.hyperparameters.values_of(best.arch)
        if len(self.experiment.objectives) > 1:
            summary["pareto_front"] = [
                {"number": t.number, "arch": t.arch, "metrics": t.metrics} for t in self.pareto_front()
            ]
        return summary

    def _progress(self):
        if not self.progress:
            return None
        from hyperbox.kernel.progress import TrialProgress

        return TrialProgress(self.experiment, done=len(self.trials))
