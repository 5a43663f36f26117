"""Entry point of the ada plugin: registration only (torch and Kornia are imported when a space is built)."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_spaces(register):
    register(
        "augmentation_policy",
        "hyperbox.ada.policy:AugmentationPolicy",
        help="AutoAugment-style policy space over Kornia ops (op, magnitude bin, probability per slot).",
    )
    register(
        "augmented",
        "hyperbox.ada.augmented_network:augmented",
        help="A registered space behind a searchable augmentation policy (training only).",
    )
