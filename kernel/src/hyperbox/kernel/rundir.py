"""The run directory: where a search records itself, and what a resumed search reads back.

``config.yaml``        what was searched (the resolved experiment)
``events.jsonl``       structured event log
``trials.jsonl``       one record per finished trial, appended and flushed
``best_arch.json``     the best trial's architecture
``best_weights.pt``    its trained weights (a ``state_dict``), when a trainer produced them
``summary.json``       the outcome: counts, best trial, Pareto front

Every file is written atomically or appended and flushed, so a killed search never leaves a
half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from hyperbox.kernel.config import yaml_load
from hyperbox.kernel.errors import ConfigError, HyperboxError
from hyperbox.kernel.files import append_jsonl, locked, read_jsonl, save_state_dict, write_json, write_text
from hyperbox.kernel.trial import HOST, TrialRecord

__all__ = ["RunDirectory"]

CONFIG_FILE, TRIALS_FILE, SUMMARY_FILE = "config.yaml", "trials.jsonl", "summary.json"
BEST_ARCH_FILE, BEST_WEIGHTS_FILE, EVENTS_FILE = "best_arch.json", "best_weights.pt", "events.jsonl"
#: Taken by workers sharing a run directory while they compare and write the best trial's files.
BEST_LOCK_FILE = ".best.lock"
#: The number of the trial whose files ``best_arch.json`` and ``best_weights.pt`` are, written last.
BEST_MARK_FILE = ".best.json"
#: The folder of the weights kept beside the best's (``keep: K``): ``trial-N.pt`` each.
KEPT_DIR = "weights"
#: Files a search writes about itself; any other file is work worth keeping (a trainer's checkpoint).
_BOOKKEEPING = {CONFIG_FILE, EVENTS_FILE, TRIALS_FILE, SUMMARY_FILE, BEST_LOCK_FILE, BEST_MARK_FILE}
#: ``summary.json``'s ``kind`` for a search (other commands write their own kinds).
SEARCH_KIND = "search"


class RunDirectory:
    """One run directory.

    Args:
        path: the directory (it exists).
        shared: the directory belongs to another process's search (a local worker of
            ``hbk run --workers``): trials and the best files are written here, taking turns
            with the other workers, but never ``config.yaml`` or ``summary.json``.
        fresh: the directory was created for this search, so a search that fails leaving nothing
            worth keeping in it (see :meth:`holds_work`) removes it.
    """

    def __init__(self, path: str | os.PathLike, *, shared: bool = False, fresh: bool = False) -> None:
        self.path = Path(path)
        self.shared = shared
        self.fresh = fresh

    # -- creating and opening -------------------------------------------------------------------
    @classmethod
    def create(cls, parent: str | os.PathLike, name: str, where: str = "output_dir") -> RunDirectory:
        """A new directory ``parent/NAME-TIMESTAMP`` (a suffix keeps two runs in one second apart)."""
        base = Path(parent) / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"{where} {str(base.parent)!r}: {error.strerror}") from None
        for suffix in range(1000):
            path = base.with_name(base.name + (f"-{suffix}" if suffix else ""))
            try:
                path.mkdir()
                return cls(path, fresh=True)
            except FileExistsError:
                continue
        raise HyperboxError(f"{base}: cannot create a fresh run directory")

    @staticmethod
    def check(path: str | os.PathLike, *, resume: bool) -> bool:
        """Whether a search given ``path`` (and ``resume``) continues a recorded one: a run
        directory there is continued with ``resume`` and refused without; a missing or empty
        one starts afresh. Nothing is created."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"directory {str(path)!r}: not a directory")
        if not path.is_dir() or not any(path.iterdir()):
            return False
        if not (path / CONFIG_FILE).is_file():
            raise ConfigError(f"directory {str(path)!r}: not empty and not a run directory (no {CONFIG_FILE})")
        if not resume:
            raise ConfigError(
                f"directory {str(path)!r} holds a search already; pass resume=True to continue it, "
                "or choose another directory"
            )
        return True

    @classmethod
    def at(cls, path: str | os.PathLike, *, resume: bool) -> RunDirectory:
        """``path`` for a search: the recorded search there when it is continued (see
        :meth:`check`), else the directory, created if missing."""
        if cls.check(path, resume=resume):
            return cls.existing(path)
        path = Path(path)
        fresh = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"directory {str(path)!r}: {error.strerror}") from None
        return cls(path, fresh=fresh)

    @classmethod
    def existing(cls, path: str | os.PathLike, *, shared: bool = False) -> RunDirectory:
        """A run directory written before (to resume, or to share as a worker)."""
        directory = cls(path, shared=shared)
        if not (directory.path / CONFIG_FILE).is_file():
            raise ConfigError(f"{os.fspath(path)}: not a run directory (no {CONFIG_FILE})")
        kind = directory.summary().get("kind", SEARCH_KIND)
        if kind != SEARCH_KIND:
            raise ConfigError(f"{os.fspath(path)}: a {kind} directory, not a search to resume")
        return directory

    def remove(self) -> None:
        """Delete the directory (a search that could not start, in a directory made for it)."""
        shutil.rmtree(self.path, ignore_errors=True)

    # -- the files --------------------------------------------------------------------------------
    @property
    def events_file(self) -> Path:
        return self.path / EVENTS_FILE

    def config(self) -> dict[str, Any]:
        data = yaml_load((self.path / CONFIG_FILE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def write_config(self, config: Mapping[str, Any]) -> None:
        if not self.shared:
            write_text(self.path / CONFIG_FILE, yaml.safe_dump(dict(config), sort_keys=False))

    def trials(self) -> list[TrialRecord]:
        """The trials recorded so far (a torn last line, from a kill mid-write, is skipped)."""
        return [TrialRecord.from_json(record) for record in read_jsonl(self.path / TRIALS_FILE)]

    def append(self, trial: TrialRecord) -> None:
        append_jsonl(self.path / TRIALS_FILE, trial.to_json())

    def summary(self) -> dict[str, Any]:
        """``summary.json``, or {} while the search has not written one."""
        try:
            return json.loads((self.path / SUMMARY_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        if not self.shared:
            write_json(self.path / SUMMARY_FILE, summary)

    def save_best(self, trial: TrialRecord, model: Any, better: Callable[[TrialRecord, TrialRecord], bool]) -> None:
        """Write ``trial``'s architecture and (when ``model`` has them) weights as the best; in a
        shared directory only when no trial recorded there, nor the one the files hold, is ``better``."""
        if not self.shared:
            self._replace_best(trial, lambda weights: _save_weights(model, weights))
            return
        with locked(self.path / BEST_LOCK_FILE):
            rivals = [r for r in self.trials() if r.state == "complete"]
            marked = self._marked_trial()
            if marked is not None:  # saved by another worker that has not recorded it yet
                rivals.append(marked)
            if any(r.number != trial.number and better(r, trial) for r in rivals):
                return
            self._replace_best(trial, lambda weights: _save_weights(model, weights))

    def _replace_best(self, trial: TrialRecord, write_weights: Callable[[Path], None]) -> None:
        """The best files become ``trial``'s. The mark goes first and comes back last: a kill in
        between leaves files without a mark, which are never taken for any trial's (see repair_best)."""
        mark, weights = self.path / BEST_MARK_FILE, self.path / BEST_WEIGHTS_FILE
        mark.unlink(missing_ok=True)
        weights.unlink(missing_ok=True)
        write_weights(weights)
        write_json(self.path / BEST_ARCH_FILE, trial.arch)
        write_json(mark, {"number": trial.number, "metrics": trial.metrics})

    def best_so_far(self) -> dict[str, Any] | None:
        """The best trial the files hold (``number``, ``arch``, ``values``), for a run without a summary."""
        marked = self._marked_trial()
        if marked is None:
            return None
        values = next((t.values for t in self.trials() if t.number == marked.number), {})
        return {"number": marked.number, "arch": marked.arch, "values": values, "metrics": marked.metrics}

    def _marked(self) -> int | None:
        marked = self._marked_trial()
        return None if marked is None else marked.number

    def _marked_trial(self) -> TrialRecord | None:
        """The trial whose files the best files are (its number, architecture and metrics)."""
        try:
            mark = json.loads((self.path / BEST_MARK_FILE).read_text(encoding="utf-8"))
            arch = json.loads((self.path / BEST_ARCH_FILE).read_text(encoding="utf-8"))
            return TrialRecord(mark["number"], arch, seed=0, state="complete", metrics=mark.get("metrics", {}))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def repair_best(self, best: TrialRecord | None) -> None:
        """Make the best files ``best``'s, the best recorded trial, after a kill: files that are not
        marked as its lose their weights (whose trial is unknown) and get its architecture."""
        if best is None or self.shared or self._marked() == best.number:
            return
        self._replace_best(best, lambda weights: None)

    def adopt_best(self, best: TrialRecord | None) -> None:
        """Make the best files ``best``'s: copied from the run directory it ran in when that is on
        this machine and holds them (another worker's), else repaired (see :meth:`repair_best`)."""
        if best is None or self.shared:
            return
        source = None if best.directory is None else RunDirectory(best.directory)
        if self._marked() != best.number and source is not None and best.host == HOST:
            if source.path.resolve() != self.path.resolve() and source._marked() == best.number:
                self._replace_best(best, lambda weights: _copy_weights(source, best.number, weights))
        self.repair_best(best)

    def best_weights_location(self, best: TrialRecord | None) -> str | None:
        """Where the best trial's weights are: this directory's file, or (when they could not be
        copied here) the run directory on the machine it ran on; None when none were kept."""
        if best is None:
            return None
        if self.best_weights_of(best.number) is not None:
            return str(self.path / BEST_WEIGHTS_FILE)
        if best.directory is None or Path(best.directory).resolve() == self.path.resolve():
            return None
        elsewhere = Path(best.directory) / BEST_WEIGHTS_FILE
        if best.host == HOST and not elsewhere.is_file():
            return None  # on this machine, and none kept there either
        return f"{best.host}:{elsewhere}"

    def best_weights_of(self, number: int) -> Path | None:
        """The best weights file, when it holds trial ``number``'s weights."""
        weights = self.path / BEST_WEIGHTS_FILE
        return weights if weights.is_file() and self._marked() == number else None

    def keep_weights(self, number: int, model: Any) -> None:
        """Keep trial ``number``'s weights (``weights/trial-N.pt``) beside the best's."""
        if hasattr(model, "state_dict"):
            (self.path / KEPT_DIR).mkdir(exist_ok=True)
            save_state_dict(self.path / KEPT_DIR / f"trial-{number}.pt", model.state_dict())

    def drop_weights(self, number: int) -> None:
        (self.path / KEPT_DIR / f"trial-{number}.pt").unlink(missing_ok=True)

    def weights_of(self, number: int) -> Path | None:
        """Trial ``number``'s weights: the best's file when it is the best, else those kept for it."""
        kept = self.path / KEPT_DIR / f"trial-{number}.pt"
        return self.best_weights_of(number) or (kept if kept.is_file() else None)

    def holds_work(self) -> bool:
        """Whether the directory holds anything worth keeping: a complete trial, or a component's
        own state (a checkpoint from a trainer's search phase)."""
        if not self.path.is_dir():  # removed already, or never created
            return False
        if any(t.state == "complete" for t in self.trials()):
            return True
        return any(p.name not in _BOOKKEEPING and not p.name.startswith(".") for p in self.path.iterdir())


def _save_weights(model: Any, path: Path) -> None:
    if hasattr(model, "state_dict"):
        save_state_dict(path, model.state_dict())


def _copy_weights(source: RunDirectory, number: int, path: Path) -> None:
    """Copy trial ``number``'s weights out of ``source``, unless they are gone or replaced meanwhile."""
    try:
        if (source.path / BEST_WEIGHTS_FILE).is_file():
            tmp = path.with_name(f".{path.name}.tmp")
            shutil.copyfile(source.path / BEST_WEIGHTS_FILE, tmp)
            os.replace(tmp, path)
    except OSError:  # gone meanwhile: no weights here, and the summary says where they were
        path.unlink(missing_ok=True)
    if source._marked() != number:  # overwritten while copying: not its weights
        path.unlink(missing_ok=True)
