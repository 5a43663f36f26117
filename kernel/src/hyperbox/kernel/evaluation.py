"""How a trial is evaluated: by a trainer and estimators, or by the user's objective function.

Each evaluation turns a trial into its metrics (and, for a trainer, the trained model); the engine
records the result. Neither sees the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hyperbox.kernel.context import Context
from hyperbox.kernel.errors import ConfigError
from hyperbox.kernel.trial import Trial, metric_value

__all__ = ["ObjectiveEvaluation", "TrainerEvaluation", "as_metrics"]


class TrainerEvaluation:
    """Train each trial with ``trainer_for(trial)`` (the trainer, or one built with the trial's
    searched trainer arguments) and measure the model it returns with every estimator."""

    #: what to add when an objective is not measured
    hint = "add an estimator that measures it"

    def __init__(self, trainer: Any, estimators: Sequence[Any], data: Any, trainer_for: Callable | None = None) -> None:
        self.trainer, self.estimators, self.data = trainer, list(estimators), data
        self._trainer_for = trainer_for

    @property
    def fit(self) -> Callable | None:
        """The trainer's search phase, ``fit(model, mutator, data, context)``, or None."""
        return getattr(self.trainer, "fit", None)

    def close(self) -> None:
        """The search has ended: a trainer with ``close()`` releases what it holds."""
        close = getattr(self.trainer, "close", None)
        if close is not None:
            close()

    def __call__(self, trial: Trial, decisions: Mapping[str, Any], context: Context) -> tuple[dict[str, float], Any]:
        trainer = self.trainer if self._trainer_for is None else self._trainer_for(trial)
        model = trainer.trial(trial.model, dict(decisions), self.data, context)
        metrics: dict[str, float] = {}
        for estimator in self.estimators:
            metrics.update({str(k): float(v) for k, v in estimator(model, self.data, context).items()})
        return metrics, model


class ObjectiveEvaluation:
    """Call ``objective(trial)``, which returns a number (the first objective), one number per
    objective, or a mapping ``metric -> number``."""

    hint = "return it from the objective"
    fit = None

    def close(self) -> None:
        pass

    def __init__(self, objective: Callable[[Trial], Any], objectives: Sequence[str]) -> None:
        self.objective, self.objectives = objective, tuple(objectives)

    def __call__(self, trial: Trial, decisions: Mapping[str, Any], context: Context) -> tuple[dict[str, float], Any]:
        return as_metrics(self.objective(trial), self.objectives, "objective"), trial.kept_model


def as_metrics(result: Any, objectives: Sequence[str], where: str) -> dict[str, float]:
    """``result`` as metrics: a mapping of numbers, one number for the first objective, or a
    sequence of one number per objective."""
    if isinstance(result, Mapping):
        return {str(name): metric_value(value, f"{where} returned {name!r}=") for name, value in result.items()}
    if isinstance(result, Sequence) and not isinstance(result, str):
        if len(result) != len(objectives):
            raise ConfigError(
                f"{where} returned {len(result)} values for {len(objectives)} objective(s) {list(objectives)}"
            )
        return {name: metric_value(value, f"{where} returned ") for name, value in zip(objectives, result)}
    value = metric_value(result, f"{where} returned ")
    if len(objectives) > 1:
        raise ConfigError(
            f"{where} returned one number for {len(objectives)} objectives {list(objectives)}; "
            "return a mapping metric -> number or one number per objective"
        )
    return {objectives[0]: value}
