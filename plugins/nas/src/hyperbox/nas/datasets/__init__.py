"""Datasets: in-memory train/val/test splits read from disk or generated, one private module per source.

Imported lazily so that ``from hyperbox.nas.datasets import digits`` loads only what it needs.
Nothing here downloads: readers take a ``root`` the user already filled.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "DataSplits": "_splits",
        "digits": "_digits",
        "mnist": "_idx",
        "fashion_mnist": "_idx",
        "cifar10": "_cifar",
        "image_folder": "_image_folder",
        "synthetic": "_synthetic",
        "csv": "_tabular",
        "from_arrays": "_tabular",
    },
)
