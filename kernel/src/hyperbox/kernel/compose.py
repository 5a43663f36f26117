"""The composition root: an experiment file becomes a :class:`~hyperbox.kernel.Search`.

``hbk run``, ``hbk worker`` and plugin commands go through here; the engine itself knows nothing
of files. Every component named in the experiment is checked (it exists, and its arguments fit
its factory's signature) before anything is built or written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hyperbox.kernel.components import Resolver
from hyperbox.kernel.config import Experiment, apply_overrides, parse_experiment
from hyperbox.kernel.engine import Search
from hyperbox.kernel.errors import ConfigError
from hyperbox.kernel.plugins import PluginManager, get_manager
from hyperbox.kernel.rundir import CONFIG_FILE, RunDirectory

__all__ = ["build_search", "resume_search"]


def build_search(
    experiment: Experiment,
    *,
    directory: RunDirectory | None = None,
    resume: bool = False,
    ledger: Any = None,
    worker: int = 0,
    study: str | None = None,
    console: bool | int = True,
    progress: bool | None = None,
    manager: PluginManager | None = None,
    in_memory: bool = False,
) -> Search:
    """The search ``experiment`` describes.

    Args:
        directory: the run directory: an existing one to resume, or one shared with the other
            local workers of a run (``RunDirectory.existing(path, shared=True)``); None creates
            ``OUTPUT_DIR/NAME-TIMESTAMP`` when the search starts (a search never started writes
            nothing: commands that need only its components build it and close it).
        resume: continue the search recorded in ``directory``.
        ledger: a shared ledger to work for (``hbk worker``) instead of the experiment's storage,
            whose study the search then creates (named ``study``, default ``NAME-TIMESTAMP``).
        worker: this worker's index (its mutator is seeded with ``seed + worker``).
        in_memory: record nothing (a rank other than 0 of a distributed training).
    """
    manager = manager or get_manager()
    source = experiment.source
    _check_components(experiment, Resolver(lambda: manager.registry))
    if directory is None and not in_memory:
        directory = functools.partial(
            RunDirectory.create, experiment.output_dir, experiment.name, f"{source}: output_dir"
        )
    storage = ledger
    if ledger is None and experiment.storage is not None:
        storage = {"url": experiment.storage, **experiment.storage_options}
    try:
        return Search(
            space=experiment.space,
            mutator=experiment.mutator,
            trainer=experiment.trainer,
            estimators=list(experiment.estimators),
            dataset=experiment.dataset,
            objectives=experiment.objectives,
            directions=experiment.directions,
            budget=experiment.budget,
            seed=experiment.seed,
            max_consecutive_failures=experiment.max_consecutive_failures,
            keep=experiment.keep,
            dedup=experiment.dedup,
            hparams=experiment.hparams or None,
            device=experiment.device,
            directory=directory,
            resume=resume,
            storage=storage,
            study=study,
            worker=worker,
            name=experiment.name,
            config=experiment.to_json(),
            console=console,
            progress=progress,
            manager=manager,
        )
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(f"{source}:") else f"{source}: {message}") from None


def _check_components(experiment: Experiment, resolver: Resolver) -> None:
    """Every component exists and its arguments fit its factory's signature, before any is built."""
    items = [
        ("datasets", "dataset", experiment.dataset),
        ("spaces", "space", experiment.space),
        ("mutators", "mutator", experiment.mutator),
        ("trainers", "trainer", experiment.trainer),
    ] + [("estimators", f"estimators[{i}]", e) for i, e in enumerate(experiment.estimators)]
    for kind, where, spec in items:
        resolver.factory(kind, spec, f"{experiment.source}: {where}")


def resume_search(directory: str | os.PathLike, overrides: Sequence[str] = (), **options: Any) -> Search:
    """The search recorded in run ``directory``, to continue where it stopped; ``overrides`` of
    ``budget.trials`` and ``budget.seconds`` give a finished or interrupted search more to spend."""
    run = RunDirectory.existing(directory)
    where = str(Path(directory) / CONFIG_FILE)
    other = [o for o in overrides if o.partition("=")[0] not in ("budget.trials", "budget.seconds")]
    if other:
        raise ConfigError(
            f"--resume: {other[0]!r}: a resumed run keeps its experiment; only budget.trials and budget.seconds "
            "may change (start a new run for anything else)"
        )
    data = apply_overrides(run.config(), overrides, where)
    trials = (data.get("budget") or {}).get("trials")
    recorded = len(run.trials())
    if overrides and isinstance(trials, int) and not isinstance(trials, bool) and trials <= recorded:
        raise ConfigError(f"--resume: budget.trials={trials}: the run has {recorded} trials already; give more")
    if data.get("created_from") == "python":
        raise ConfigError(
            f"{where}: the search was created from Python; resume it there with "
            f"Search(..., directory={os.fspath(directory)!r}, resume=True)"
        )
    experiment = parse_experiment(data, where)
    if experiment.storage is not None:
        raise ConfigError(
            f"{where}: a run on a shared storage is resumed by joining its study: hbk worker --storage URL --study NAME"
        )
    return build_search(experiment, directory=run, resume=True, **options)
