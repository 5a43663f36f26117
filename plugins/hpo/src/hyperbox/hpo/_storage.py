"""Where a study lives: Optuna storages opened from a URL, and studies created or joined safely."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning

from hyperbox.kernel import ConfigError

#: Seconds to wait for a database server before calling it unreachable.
CONNECT_TIMEOUT_S = 10


def _display_url(url: str) -> str:
    """``url`` without its password, for error messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given: it holds no recognisable password
        return url


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_storage(
    storage: str | optuna.storages.BaseStorage | None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = None,
) -> optuna.storages.BaseStorage:
    """An Optuna storage: in memory for None, a database for a URL, or the storage given.

    A database gets heartbeats every ``heartbeat_interval`` seconds (None: none); a trial silent
    for ``grace_period`` seconds is failed and retried up to ``max_retry`` times.
    """
    if storage is None:
        return optuna.storages.InMemoryStorage()
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise ConfigError(f"storage must be an Optuna storage URL, got {type(storage).__name__}")
    engine_kwargs: dict[str, Any] = {}
    if storage.startswith(("postgresql", "mysql")):
        # without it an unreachable host hangs for minutes in the TCP connect
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        with warnings.catch_warnings():  # heartbeats are experimental in Optuna
            warnings.simplefilter("ignore", ExperimentalWarning)
            retry = None if heartbeat_interval is None else optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry)
            return optuna.storages.RDBStorage(
                storage,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=retry,
            )
    except ImportError as error:  # Optuna re-raises the driver's import error without its name
        driver = getattr(error.__cause__, "name", None) or "the database driver"
        raise ConfigError(f"storage {_display_url(storage)!r}: {driver} is not installed") from None
    except Exception as error:  # SQLAlchemy raises many kinds; all mean "cannot use this storage"
        raise ConfigError(f"storage {_display_url(storage)!r}: cannot open ({_first_line(error)})") from None


def close_storage(storage: optuna.storages.BaseStorage) -> None:
    """Release a database storage's connections (its SQLAlchemy engine); other storages hold none.

    A study's storage is Optuna's cache around the database storage; both are accepted.
    """
    storage = getattr(storage, "_backend", storage)
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.remove_session()
        storage.engine.dispose()


def open_study(
    storage: optuna.storages.BaseStorage,
    study_name: str | None,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    *,
    load_if_exists: bool,
    metric_names: Sequence[str],
) -> optuna.Study:
    """Join the study ``study_name`` if it exists with the same directions, else create it.

    Checks come before any write, so a study that fails them is left untouched.
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    except (KeyError, ValueError):  # no such study (or no name and not exactly one study)
        study = None
    if study is not None:
        if not load_if_exists:
            raise ConfigError(f"study {study_name!r} already exists (set load_if_exists=true to join it)")
        existing = [d.name.lower() for d in study.directions]
        if existing != list(directions):
            raise ConfigError(
                f"study {study_name!r} exists with directions {existing}, not {list(directions)}; "
                "use another study_name"
            )
        return study
    study = optuna.create_study(
        storage=storage, sampler=sampler, pruner=pruner, study_name=study_name, directions=list(directions)
    )
    with warnings.catch_warnings():  # experimental in Optuna, and worth it for the dashboard's labels
        warnings.simplefilter("ignore", ExperimentalWarning)
        study.set_metric_names(list(metric_names))
    return study
