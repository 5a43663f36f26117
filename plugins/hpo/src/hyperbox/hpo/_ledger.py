"""A run's trials in an Optuna study, shared by workers in other processes or on other machines.

The process that creates the study enqueues exactly ``budget.trials`` WAITING trials; workers
only ever claim a WAITING trial (the storage switches it to RUNNING for one of them, as
``Study.ask`` pops its queue), so together they run exactly the budget. A running trial records
heartbeats; a trial whose worker died goes stale, is failed by the next worker that looks for
work and, through Optuna's retry callback, queued again with the same architecture.

Each trial keeps its architecture and, once finished, the kernel's record of it in its user
attributes, so that every worker (and ``optuna-dashboard``) sees every worker's results.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import nullcontext
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hyperbox.hpo._heartbeat import Heartbeat
from hyperbox.hpo._storage import _display_url, close_storage, open_storage
from hyperbox.hpo.mutator import END_STATES
from hyperbox.kernel import ConfigError
from hyperbox.kernel.files import locked
from hyperbox.kernel.ledger import Claim
from hyperbox.kernel.trial import TrialRecord, trial_seed

__all__ = ["OptunaLedger"]

EXPERIMENT_ATTR = "hyperbox:experiment"  # study: the experiment (JSON) workers build their run from
HEARTBEAT_ATTR = "hyperbox:heartbeat"  # study: heartbeat settings every worker applies
DEADLINE_ATTR = "hyperbox:deadline"  # study: end of a ``budget.seconds`` (Unix time)
ARCH_ATTR = "hyperbox:arch"  # trial: the architecture (JSON), copied to a retry
RECORD_ATTR = "hyperbox:trial"  # trial: the kernel's record of the finished trial (JSON)

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: How long a process joining a study (load_if_exists) waits for its creator to finish creating it.
READY_TIMEOUT_S = 30


class OptunaLedger:
    """The kernel's :class:`~hyperbox.kernel.ledger.Ledger` in an Optuna storage (any RDB URL).

    Args:
        url: the storage URL (``sqlite:///study.db``, ``postgresql+psycopg://user@host/db``, ...).
        experiment: the experiment (JSON) to create a study for; None joins ``study``.
        study: the study to create, or to join (None: the storage's only study).
        heartbeat_interval, grace_period, max_retry: a running trial records a heartbeat every
            ``heartbeat_interval`` seconds; one silent for ``grace_period`` seconds (default twice
            the interval) is failed and queued again, at most ``max_retry`` times. Set by the
            creator; joining workers use the study's settings.
        poll_interval: seconds between looks for work while other workers' trials still run.
        load_if_exists: with an ``experiment``, join ``study`` if it exists already (as Optuna's
            ``create_study(load_if_exists=True)``) instead of refusing; its objectives and
            directions must be the experiment's.
    """

    def __init__(
        self,
        url: str,
        *,
        experiment: dict[str, Any] | None = None,
        study: str | None = None,
        heartbeat_interval: int = 10,
        grace_period: int | None = None,
        max_retry: int | None = 3,
        poll_interval: float = 0.5,
        load_if_exists: bool = False,
    ) -> None:
        self.url = url
        self.poll_interval = poll_interval
        created = None
        if experiment is not None:
            settings = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period, "max_retry": max_retry}
            storage = open_storage(url, **settings)
            try:
                created = self._create(storage, study, experiment, settings, load_if_exists)
            except BaseException:
                close_storage(storage)
                raise
            if created is None:  # it exists, and joining it was asked for
                close_storage(storage)
        if created is not None:
            self.study = created
        else:
            _check_sqlite_file(url)  # joining never creates a database: a missing file is a typo
            probe = open_storage(url)
            try:  # the study's heartbeat settings come first: the storage applies them
                found = self._join(probe, study, wait=experiment is not None)
                name, settings = found.study_name, found.user_attrs[HEARTBEAT_ATTR]
            finally:
                close_storage(probe)
            storage = open_storage(url, **settings)
            try:
                self.study = optuna.load_study(study_name=name, storage=storage)
            except BaseException:
                close_storage(storage)
                raise
        self.experiment: dict[str, Any] = json.loads(self.study.user_attrs[EXPERIMENT_ATTR])
        if experiment is not None and created is None:
            self._check_joined(experiment)
        self._storage = self.study._storage  # the storage API claims and heartbeats go through
        self._study_id = self.study._study_id
        self._heartbeat_interval = settings["heartbeat_interval"]
        self._deadline = self.study.user_attrs.get(DEADLINE_ATTR)
        self._unbounded = self.experiment["budget"]["trials"] is None
        self._objectives = list(self.experiment["objective"])
        #: the claimed trials not finished yet, by number, with their heartbeats
        self._running: dict[int, tuple[FrozenTrial, Heartbeat | None]] = {}
        self._mine: set[int] = set()
        self._seen: set[int] = set()
        self._claim_lock = _sqlite_claim_lock(url)

    # -- creating and joining ---------------------------------------------------------------------
    def _create(
        self,
        storage: optuna.storages.BaseStorage,
        name: str | None,
        experiment: dict[str, Any],
        settings: dict,
        load_if_exists: bool,
    ) -> optuna.Study | None:
        """A new study holding ``experiment`` and its whole trial budget (checked before any write);
        None when it exists already and ``load_if_exists`` asks to join it."""
        exists = ConfigError(
            f"storage {_display_url(self.url)!r}: study {name!r} exists already; "
            f"join it with hbk worker --study {name} (from Python: load_if_exists=True), or choose another name"
        )
        if name in optuna.study.get_all_study_names(storage):
            if load_if_exists:
                return None
            raise exists
        try:
            study = optuna.create_study(storage=storage, study_name=name, directions=list(experiment["direction"]))
        except optuna.exceptions.DuplicatedStudyError:  # another process created it meanwhile
            if load_if_exists:
                return None
            raise exists from None
        with warnings.catch_warnings():  # experimental in Optuna, and worth it for the dashboard's labels
            warnings.simplefilter("ignore", ExperimentalWarning)
            study.set_metric_names(list(experiment["objective"]))
        study.set_user_attr(HEARTBEAT_ATTR, settings)
        budget = experiment["budget"]
        if budget["seconds"] is not None:
            study.set_user_attr(DEADLINE_ATTR, time.time() + budget["seconds"])
        for _ in range(budget["trials"] or 0):
            study.enqueue_trial({})
        study.set_user_attr(EXPERIMENT_ATTR, json.dumps(experiment))  # last: the study is ready to join
        return study

    def _join(self, storage: optuna.storages.BaseStorage, name: str | None, wait: bool = False) -> optuna.Study:
        """The study to join; with ``wait``, a study another process is still creating is waited for."""
        names = optuna.study.get_all_study_names(storage)
        if name is None and len(names) != 1 or name is not None and name not in names:
            wanted = "one study" if name is None else f"study {name!r}"
            raise ConfigError(
                f"storage {_display_url(self.url)!r}: no {wanted} to join (studies: {', '.join(names) or 'none'})"
            )
        deadline = time.monotonic() + (READY_TIMEOUT_S if wait else 0)
        while True:
            study = optuna.load_study(study_name=name or names[0], storage=storage)
            if EXPERIMENT_ATTR in study.user_attrs:
                return study
            if time.monotonic() >= deadline:
                raise ConfigError(f"study {study.study_name!r} was not created by hyperbox; nothing to join")
            time.sleep(self.poll_interval)

    # -- the trials ---------------------------------------------------------------------------------
    def claim(self) -> Claim | None:
        while True:
            with warnings.catch_warnings():  # experimental in Optuna, and how lost trials come back
                warnings.simplefilter("ignore", ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)
            if self._deadline is not None and time.time() >= self._deadline:
                return None
            with locked(self._claim_lock) if self._claim_lock else nullcontext():
                waiting = self._storage.get_all_trials(self._study_id, deepcopy=False, states=(TrialState.WAITING,))
                taken = next((trial for trial in waiting if self._take(trial)), None)
            if taken is not None:
                return self._claimed(taken)
            if self._unbounded:
                return self._claimed(self._storage.get_trial(self._storage.create_new_trial(self._study_id)))
            running = self._storage.get_all_trials(self._study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if all(trial.number in self._running for trial in running):  # none, or only this worker's own
                return None
            time.sleep(self.poll_interval)  # another worker's running trial may yet fail and come back

    def _take(self, trial: FrozenTrial) -> bool:
        """Switch a WAITING trial to RUNNING; False when another worker took it first (the
        storage locks the row; SQLite cannot, so its workers take turns, see ``_sqlite_claim_lock``)."""
        try:
            return self._storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING)
        except UpdateFinishedTrialError:
            return False

    def _claimed(self, trial: FrozenTrial) -> Claim:
        """The claim of ``trial``: a retry carries its architecture; an Optuna mutator searching in
        :attr:`study` draws on the trial itself (a retry's parameters are fixed in it already)."""
        heartbeat = None
        if self._heartbeat_interval is not None:
            heartbeat = Heartbeat(self._storage, trial, self._heartbeat_interval)
        self._running[trial.number] = (trial, heartbeat)
        arch = trial.user_attrs.get(ARCH_ATTR)
        return Claim(trial.number, None if arch is None else json.loads(arch), handle=trial)

    def start(self, trial: TrialRecord) -> None:
        running, _ = self._running[trial.number]
        self._storage.set_trial_user_attr(running._trial_id, ARCH_ATTR, json.dumps(trial.arch))

    def finish(self, trial: TrialRecord) -> None:
        running, heartbeat = self._running.pop(trial.number)
        if heartbeat is not None:
            heartbeat.stop()
        self._mine.add(trial.number)
        try:
            self._storage.set_trial_user_attr(running._trial_id, RECORD_ATTR, json.dumps(trial.to_json()))
        except UpdateFinishedTrialError:  # failed as stale meanwhile (the process stalled): a retry runs it
            return
        if trial.state == "complete":
            values = [float(trial.metrics[o]) for o in self._objectives]
            self.study.tell(running.number, values, skip_if_finished=True)
        else:
            self.study.tell(running.number, state=END_STATES[trial.state], skip_if_finished=True)

    def release(self, claim: Claim) -> None:
        """The trial waits again, for the next claim of any worker."""
        running, heartbeat = self._running.pop(claim.number)
        if heartbeat is not None:
            heartbeat.stop()
        self._storage.set_trial_state_values(running._trial_id, state=TrialState.WAITING)

    def others(self) -> list[TrialRecord]:
        found = []
        for frozen in self._storage.get_all_trials(self._study_id, deepcopy=False, states=_FINISHED):
            if frozen.number in self._seen:
                continue
            self._seen.add(frozen.number)
            if frozen.number in self._mine:
                continue
            if RECORD_ATTR in frozen.user_attrs:
                found.append(TrialRecord.from_json(json.loads(frozen.user_attrs[RECORD_ATTR])))
            elif ARCH_ATTR in frozen.user_attrs:  # its worker was lost mid-trial
                arch = json.loads(frozen.user_attrs[ARCH_ATTR])
                seed = trial_seed(self.experiment["seed"], frozen.number)
                found.append(TrialRecord(frozen.number, arch, seed, state="failed", error="worker lost (no heartbeat)"))
        return found

    def close(self) -> None:
        """Stop the heartbeats (a trial interrupted mid-run goes stale and is retried elsewhere) and
        release the storage's database connections."""
        for _, heartbeat in self._running.values():
            if heartbeat is not None:
                heartbeat.stop()
        self._running.clear()
        close_storage(self._storage)

    def _check_joined(self, wanted: dict[str, Any]) -> None:
        """A study joined for an experiment must optimise what the experiment optimises."""
        for key in ("objective", "direction"):
            if list(wanted.get(key, [])) != list(self.experiment.get(key, [])):
                close_storage(self.study._storage)
                raise ConfigError(
                    f"study {self.study.study_name!r} has {key} {self.experiment.get(key)}; "
                    f"this search has {wanted.get(key)}"
                )


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL (None for another database, or SQLite in memory)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy reads: open_storage reports it
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def _check_sqlite_file(url: str) -> None:
    database = _sqlite_file(url)
    if database is not None and not os.path.isfile(database):
        raise ConfigError(f"storage {_display_url(url)!r}: no database file {database} (nothing to join)")


def _sqlite_claim_lock(url: str) -> str | None:
    """The lock file next to a SQLite database: SQLite ignores Optuna's row lock (``SELECT ... FOR
    UPDATE``), so two processes could both switch one WAITING trial to RUNNING."""
    database = _sqlite_file(url)
    return None if database is None else f"{database}.claim.lock"
