"""Heartbeats of running trials, so that a killed worker's trial is failed and retried.

``Study.optimize`` records heartbeats itself; ask/tell does not, so the mutator runs one
:class:`Heartbeat` per running trial. Another worker that finds a trial silent for longer than
the storage's grace period fails it, and Optuna's retry callback queues its parameters again.
"""

from __future__ import annotations

import threading

import optuna


class Heartbeat:
    """Records ``trial``'s heartbeat in ``storage`` every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial: optuna.Trial, interval: float) -> None:
        self._storage = storage
        self._trial_id = trial._trial_id  # Optuna's heartbeat API takes the storage's trial id
        self._interval = interval
        self._stopped = threading.Event()
        # the first beat before the trial runs: a trial killed before any beat would never go stale
        storage.record_heartbeat(self._trial_id)
        # a daemon, so that a run that crashes mid-trial still exits (the trial then goes stale)
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial.number}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            self._storage.record_heartbeat(self._trial_id)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
