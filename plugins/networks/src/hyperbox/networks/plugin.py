"""Entry point of the networks plugin: registration only, light imports."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_spaces(register):
    register("ofa_mbv3", "hyperbox.networks.ofa:OFAMobileNetV3", help="Once-for-All MobileNetV3, elastic k/e/d.")
    register(
        "darts_cell", "hyperbox.networks.darts:DartsNetwork", help="DARTS cell search network (8 operations per edge)."
    )
    register(
        "nb201", "hyperbox.networks.nb201:NB201Network", help="NAS-Bench-201 cell space on the benchmark's network."
    )
    register(
        "vit",
        "hyperbox.networks.vit:VisionTransformerSpace",
        help="AutoFormer-style ViT: width, depth, heads, MLP ratio.",
    )


@hookimpl
def hyperbox_register_trainers(register):
    register("ofa", "hyperbox.networks.ofa:OFATrainer", help="Once-for-All progressive shrinking with KD.")
