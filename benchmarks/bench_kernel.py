"""The kernel's cost per trial, side by side with Optuna's ``study.optimize`` on the same search.

An instant trainer and estimator (they do nothing) over a space of four hyper-parameters (two
floats, an int, a categorical), so that what is timed is the search machinery alone: sampling,
bookkeeping, hooks and the run directory on disk (each trial's line fsynced, the best files
rewritten when the best changes). Optuna samples uniformly at random in an in-memory study; ours
with the ``random`` mutator. 1,000 and 20,000 trials: the cost per trial must not grow with the
trials done (targets: at most 1 ms per trial at 20,000, and 20,000 / 1,000 at most 1.2).

    .venv/bin/python benchmarks/bench_kernel.py
"""

from __future__ import annotations

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


class InstantTrainer:
    def trial(self, model, arch, data, context):
        return model


def instant_estimator(model, data, context):
    values = {p.key: p.value for p in model.mutables()}
    return {"accuracy": values["lr"] * values["layers"] - values["dropout"]}


def ours(trials: int, directory: str) -> float:
    begin = time.perf_counter()
    Search(
        HyperParameters(SPEC),
        "random",
        trainer=InstantTrainer(),
        estimators=[instant_estimator],
        dataset=object(),
        budget=trials,
        directory=directory,
    ).run()
    return (time.perf_counter() - begin) / trials * 1000


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
    return (time.perf_counter() - begin) / trials * 1000


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as root:
        for trials in (1_000, 20_000):
            figures[trials] = (ours(trials, f"{root}/run{trials}"), optunas(trials))
    print(f"{'trials':>7} {'hyperbox ms/trial (run dir on disk)':>36} {'optuna ms/trial (in memory)':>28}")
    for trials, (mine, theirs) in figures.items():
        print(f"{trials:>7} {mine:>36.3f} {theirs:>28.3f}")
    print(
        f"20,000 / 1,000: hyperbox {figures[20_000][0] / figures[1_000][0]:.2f}, "
        f"optuna {figures[20_000][1] / figures[1_000][1]:.2f}"
    )


if __name__ == "__main__":
    main()
