"""Optuna samplers and pruners by the names an experiment file uses, with their arguments checked.

Arguments are passed through to Optuna unchanged; only their names are checked here (Optuna
checks the values), so that a typo is a one-line error before any study is touched.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning

from hyperbox.kernel import ConfigError
from hyperbox.kernel.registry import unknown_name_message


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its stop: once the grid is exhausted it calls ``study.stop()``,
    which raises outside ``Study.optimize``; the kernel's budget ends an ask/tell search."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        """Nothing to do: the grid cell is recorded on the trial when it is created."""


SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "random": optuna.samplers.RandomSampler,
    "grid": GridSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
    "bruteforce": optuna.samplers.BruteForceSampler,
}

#: Samplers whose randomness must come from one seed for the whole study (QMC scrambles its
#: sequence with it, grid shuffles its cells: a cell is a trial number's place in that order);
#: the others are re-seeded per trial number (see ``OptunaMutator``).
SEEDED_ONCE = frozenset({"qmc", "grid"})

#: Samplers that need every parameter to take finitely many values.
FINITE_ONLY = frozenset({"grid", "bruteforce"})

PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "patient": optuna.pruners.PatientPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}


def _check_arguments(what: str, name: str, factory: Callable, args: Mapping[str, Any], reserved: tuple) -> None:
    accepted = [p for p in inspect.signature(factory).parameters if p not in reserved]
    for key in args:
        if key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"it takes: {', '.join(accepted) or '(none)'}"
            raise ConfigError(f"{what} {name!r} takes no argument {key!r} ({hint})")


def _build(factory: Callable, what: str, name: str, args: Mapping[str, Any]) -> Any:
    # Optuna marks some of these classes experimental; asking for one by name is a choice.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            return factory(**args)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{what} {name!r}: {error}") from None


def sampler_factory(name: str, args: Mapping[str, Any] | None) -> Callable[[int | None], optuna.samplers.BaseSampler]:
    """A checked ``seed -> sampler`` function for the sampler called ``name``."""
    if name not in SAMPLERS:
        raise ConfigError(unknown_name_message("sampler", name, SAMPLERS))
    args = dict(args or {})
    if "seed" in args:
        raise ConfigError(f"sampler {name!r}: set the seed on the mutator (seed=...), not in sampler_args")
    factory = SAMPLERS[name]
    _check_arguments("sampler", name, factory, args, reserved=("self", "seed"))

    def build(seed: int | None) -> optuna.samplers.BaseSampler:
        return _build(factory, "sampler", name, {**args, "seed": seed})

    build(None)  # bad values fail now, not at the first trial
    return build


def make_pruner(name: str, args: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    """The pruner called ``name``; ``patient`` takes ``wrapped_pruner`` as a pruner name."""
    if name not in PRUNERS:
        raise ConfigError(unknown_name_message("pruner", name, PRUNERS))
    args = dict(args or {})
    factory = PRUNERS[name]
    _check_arguments("pruner", name, factory, args, reserved=("self",))
    if name == "patient":
        wrapped = args.get("wrapped_pruner")
        args["wrapped_pruner"] = None if wrapped in (None, "none") else make_pruner(wrapped, None)
    return _build(factory, "pruner", name, args)
