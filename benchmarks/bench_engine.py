"""The engine's cost per trial, side by side with Optuna's ``study.optimize`` on the same search.

A trivial objective over a space of four hyper-parameters (two floats, an int, a categorical), at
300 and 3000 trials (the cost per trial must not grow with the trials done), so what is timed is
the search machinery alone: sampling, bookkeeping, hooks and, with a directory,
the run directory's files. Both sides sample uniformly at random (Optuna's ``RandomSampler``,
our ``random`` mutator), in memory; a third row records the search in a run directory (an
appended, fsynced line per trial and the best architecture).

    .venv/bin/python benchmarks/bench_engine.py
"""

from __future__ import annotations

import statistics
import tempfile
import time

import optuna

from hyperbox.kernel import Search
from hyperbox.kernel.hparams import HyperParameters

SPEC = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "layers": {"type": "int", "low": 1, "high": 8},
    "optimizer": ["sgd", "adamw", "rmsprop"],
}


def ours(directory: str | None, trials: int) -> float:
    def objective(trial):
        return trial.values["lr"] * trial.values["layers"] - trial.values["dropout"]

    begin = time.perf_counter()
    Search(HyperParameters(SPEC), "random", objective=objective, budget=trials, directory=directory).run()
    return (time.perf_counter() - begin) / trials


def optunas(trials: int) -> float:
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        layers = trial.suggest_int("layers", 1, 8)
        trial.suggest_categorical("optimizer", ["sgd", "adamw", "rmsprop"])
        return lr * layers - dropout

    begin = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - begin) / trials


def main(repeats: int = 3) -> None:
    print(f"{'per trial':<34} {'trials':>6} {'ms':>7} {'ratio to Optuna':>16}")
    for trials in (300, 3000):
        optuna_ms = statistics.median(optunas(trials) for _ in range(repeats)) * 1000
        memory_ms = statistics.median(ours(None, trials) for _ in range(repeats)) * 1000
        with tempfile.TemporaryDirectory() as root:
            files_ms = statistics.median(ours(f"{root}/run{i}", trials) for i in range(repeats)) * 1000
        print(f"{'Optuna study.optimize (memory)':<34} {trials:>6} {optuna_ms:>7.3f} {1:>16.2f}")
        print(f"{'Search.run, in memory':<34} {trials:>6} {memory_ms:>7.3f} {memory_ms / optuna_ms:>16.2f}")
        print(f"{'Search.run, with a run directory':<34} {trials:>6} {files_ms:>7.3f} {files_ms / optuna_ms:>16.2f}")


if __name__ == "__main__":
    main()
