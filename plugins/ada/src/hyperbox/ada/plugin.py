"""Entry point of the ada plugin: registration only (torch and Kornia are imported when a component is built)."""

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


@hookimpl
def hyperbox_register_mutators(register):
    register("dada", "hyperbox.ada.dada:DadaMutator", help="DADA: the policy the dada trainer derives.")


@hookimpl
def hyperbox_register_trainers(register):
    register("dada", "hyperbox.ada.dada:DadaTrainer", help="DADA: differentiable policy search (bilevel).")


@hookimpl
def hyperbox_register_augmentations(register):
    baselines = "hyperbox.ada.baselines"
    register("autoaugment", f"{baselines}:autoaugment", help="Kornia's AutoAugment (imagenet, cifar10, svhn policies).")
    register("randaugment", f"{baselines}:randaugment", help="Kornia's RandAugment (n operations at magnitude m).")
    register("trivialaugment", f"{baselines}:trivialaugment", help="Kornia's TrivialAugment.")
    register("policy", f"{baselines}:policy", help="A found policy's JSON file (augment: POLICY.json).")


@hookimpl
def hyperbox_export_parts(space, subnet, arch, directory):
    from hyperbox.ada.augmented_network import export_parts  # None for a space without a policy in front

    return export_parts(space, subnet, arch, directory)
