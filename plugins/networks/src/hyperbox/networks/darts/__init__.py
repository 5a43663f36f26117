"""DARTS (Liu et al., 2019): the cell search network, genotypes and the evaluation network.

Names are imported on first use, so that importing the package costs nothing until then.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "DartsNetwork": "search",
        "DartsEvalNetwork": "evaluation",
        "Genotype": "genotypes",
        "DARTS_V1": "genotypes",
        "DARTS_V2": "genotypes",
        "PRIMITIVES": "operations",
    },
)
