"""Trainers: ``trial(model, arch, data, context)`` and optionally ``fit(model, mutator, data, context)``.

One private module per trainer, imported lazily so that ``from hyperbox.nas.trainers import
StandaloneTrainer`` loads only what it needs.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "StandaloneTrainer": "_standalone",
        "OneShotTrainer": "_oneshot",
        "DartsTrainer": "_darts",
        "SupernetTrainer": "_oneshot",
    },
)
