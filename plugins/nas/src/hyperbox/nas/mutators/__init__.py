"""Search algorithms over the kernel's domains, one private module per algorithm.

Imported lazily so that ``from hyperbox.nas.mutators import RandomMutator`` loads only what it needs.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "RandomMutator": "_random",
        "EvolutionMutator": "_evolution",
        "DartsMutator": "_darts",
        "GDASMutator": "_gdas",
        "ENASMutator": "_enas",
        "MCTSMutator": "_mcts",
        "MOEADMutator": "_moead",
    },
)
