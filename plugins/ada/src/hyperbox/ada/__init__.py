"""Hyperbox ADA: augmentation-policy search over Kornia operations.

Public names are imported on first use, so registering the plugin imports neither torch nor Kornia.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "AugmentationPolicy": "policy",
        "PolicySlot": "policy",
        "PolicyOperation": "ops",
        "OPERATIONS": "ops",
        "DEFAULT_OPERATIONS": "ops",
        "AugmentedNetwork": "augmented_network",
        "load_policy": "policy_file",
        "RelaxedPolicy": "dada",
        "DadaTrainer": "dada",
        "DadaMutator": "dada",
        "read_policy": "policy_file",
        "VolumePolicy": "volumetric",
        "OPERATIONS_3D": "volumetric",
        "augmented": "augmented_network",
    },
)
