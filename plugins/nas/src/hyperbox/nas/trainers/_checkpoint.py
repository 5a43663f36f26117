"""Epoch checkpoints: a long training killed mid-way continues from its last finished epoch.

Every ``every`` epochs, rank 0 writes the whole training state into one file, atomically (a
temporary file renamed over the last one): the epoch, each stateful object the trainer names (model,
optimizers, schedulers, grad scaler, architecture weights, its own ``random.Random``) and every
global generator (Python's, NumPy's, torch's CPU and CUDA ones). A resumed run loads it with
``weights_only=True`` on rank 0 and hands it to every rank, so the training goes on as if it had
never stopped: on one process, it ends with the weights of an uninterrupted run, bit for bit.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hyperbox.kernel.files import load_state_dict, save_state_dict
from hyperbox.nas.trainers._distributed import Processes

__all__ = ["EpochCheckpoint", "TrainingResult", "check_checkpoint_every"]


def check_checkpoint_every(value: int | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"checkpoint_every={value!r} must be a positive integer (epochs between checkpoints)")


class EpochCheckpoint:
    """The checkpoint file ``path`` (None: a search kept in memory keeps none) of a training on
    ``processes``, written every ``every`` epochs (None: never). ``identity`` (JSON-like, e.g. a
    trial's architecture and seed) says which training the file belongs to: a file written for
    another identity is not resumed from.

    ``objects`` map names to what the state is made of: anything with ``state_dict`` and
    ``load_state_dict``, a ``random.Random``, a ``torch.Generator``, a list of tensors, or None.
    """

    def __init__(self, path: Path | None, every: int | None, processes: Processes, identity: Any = None) -> None:
        self.path, self.every, self.processes = path, every, processes
        # as text: any decision compares, and a weights-only load reads it back
        self.identity = None if identity is None else json.dumps(identity, sort_keys=True, default=str)

    def restore(self, resumed: bool, objects: Mapping[str, Any]) -> int:
        """Load the last checkpoint into ``objects`` when the run is ``resumed`` and one exists;
        returns the epoch to start at."""
        state = self.load(resumed)
        if state is None:
            return 0
        self.apply(state, objects)
        return int(state["epoch"]) + 1

    def load(self, resumed: bool) -> dict[str, Any] | None:
        """The last checkpoint when the run is ``resumed`` and one exists (rank 0 decides and reads;
        every rank receives the same state), else None."""
        state = None
        if self.processes.leader and resumed and self.path is not None and self.path.is_file():
            state = load_state_dict(self.path, map_location="cpu")
            if state.get("identity") != self.identity:  # another training's file (e.g. another architecture)
                state = None
        return self.processes.broadcast(state)

    @staticmethod
    def apply(state: Mapping[str, Any], objects: Mapping[str, Any]) -> None:
        """Load ``state`` (from :meth:`load`) into ``objects`` and the global generators."""
        for name, target in objects.items():
            _load(target, state["objects"][name])
        _set_global_generators(state["generators"])

    def end_of_epoch(self, epoch: int, objects: Mapping[str, Any]) -> None:
        """Write the state after ``epoch`` (0-based) when it is due (every ``every`` epochs)."""
        if self.path is None or self.every is None or not self.processes.leader or (epoch + 1) % self.every:
            return
        state = {
            "identity": self.identity,
            "epoch": epoch,
            "objects": {name: _state_of(target) for name, target in objects.items()},
            "generators": _global_generators(),
        }
        save_state_dict(self.path, state)

    def discard(self) -> None:
        """Remove the file once the training it belongs to has ended and saved its result."""
        if self.path is not None and self.processes.leader:
            self.path.unlink(missing_ok=True)


def _state_of(target: Any) -> Any:
    if target is None:
        return None
    if isinstance(target, random.Random):
        return target.getstate()
    if isinstance(target, torch.Generator):
        return target.get_state()
    if isinstance(target, list):
        return [tensor.detach().cpu().clone() for tensor in target]
    return target.state_dict()


def _load(target: Any, state: Any) -> None:
    if target is None or state is None:
        return
    if isinstance(target, random.Random):
        target.setstate(_as_tuples(state))
    elif isinstance(target, torch.Generator):
        target.set_state(state)
    elif isinstance(target, list):
        with torch.no_grad():
            for tensor, saved in zip(target, state):
                tensor.copy_(saved)
    else:
        target.load_state_dict(state)


def _as_tuples(state: Any) -> Any:
    """``random.Random.setstate`` wants the tuples ``getstate`` gave (a loaded file may hold lists)."""
    return tuple(_as_tuples(part) for part in state) if isinstance(state, (list, tuple)) else state


def _global_generators() -> dict[str, Any]:
    """Python's, NumPy's (as tensors: ``weights_only`` loads no arrays), torch's and CUDA's states."""
    generators: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if "numpy" in sys.modules:
        kind, keys, position, has_gauss, gauss = sys.modules["numpy"].random.get_state()
        generators["numpy"] = [kind, torch.from_numpy(keys.astype("int64")), position, has_gauss, gauss]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        generators["cuda"] = torch.cuda.get_rng_state_all()
    return generators


def _set_global_generators(generators: Mapping[str, Any]) -> None:
    random.setstate(_as_tuples(generators["python"]))
    torch.set_rng_state(generators["torch"])
    if "numpy" in generators and "numpy" in sys.modules:
        numpy = sys.modules["numpy"]
        kind, keys, position, has_gauss, gauss = generators["numpy"]
        numpy.random.set_state((kind, keys.numpy().astype(numpy.uint32), position, has_gauss, gauss))
    if "cuda" in generators and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(generators["cuda"])


class TrainingResult:
    """What a finished training saves in the run directory (``supernet.pt``, ``darts.pt``,
    ``dada.pt``): a resumed run loads it on every rank instead of training again. Rank 0 alone
    writes it; a search kept in memory (no run directory) keeps none."""

    def __init__(self, context: Any, name: str, processes: Processes) -> None:
        self.path: Path | None = context.state_path(name)
        self.resumed, self.processes = bool(context.resumed), processes

    def load(self) -> Any:
        """The saved result on every rank, or None (every rank then trains)."""
        saved = None
        if self.processes.leader and self.resumed and self.path is not None and self.path.is_file():
            saved = load_state_dict(self.path, map_location="cpu")
        return self.processes.broadcast(saved)

    def save(self, state: Any) -> None:
        if self.path is not None and self.processes.leader:
            save_state_dict(self.path, state)
