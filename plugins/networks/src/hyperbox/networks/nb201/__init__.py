"""NAS-Bench-201 (Dong & Yang, 2020): the cell search space, its network and architecture strings.

Names are imported on first use, so that importing the package costs nothing until then.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "NB201Network": "network",
        "OPERATIONS": "operations",
        "arch_from_string": "archstring",
        "arch_to_string": "archstring",
    },
)
