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
    composed = "hyperbox.networks.composed:compose"
    register("compose", composed, help="A network composed from registered blocks; any nested argument searchable.")
    register("FineGrainedSpace", composed, help="Vega's name for compose (search_space: {type: FineGrainedSpace}).")
    hypernets = "hyperbox.networks.hypernets"
    register("dnn", f"{hypernets}:dnn", help="Hypernets' DNN space: 2-4 dense blocks, units, BN, dropout, order.")
    register("cnn", f"{hypernets}:cnn", help="Hypernets' CNN space: repeated conv blocks, pooling, fc layers.")
    register("enas_micro", f"{hypernets}:enas_micro", help="Hypernets' ENAS micro space: NRNR cells of 4 nodes.")


#: PyTorch layers a composed network may name (Vega's descriptions use them)
TORCH_BLOCKS = (
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Identity",
    "Linear",
    "MaxPool2d",
    "ReLU",
)


#: Vega's blocks, with Vega's names (``hyperbox.networks.vega``)
VEGA_BLOCKS = {
    "InitialBlock": "ImageNet stem: 7x7 convolution, stride 2, then 3x3 max-pool.",
    "SmallInputInitialBlock": "Small-input stem: 3x3 convolution.",
    "BasicBlock": "Residual block of two 3x3 convolutions (expansion 1).",
    "BottleneckBlock": "Residual bottleneck 1x1-3x3-1x1 (expansion 4).",
    "Repeat": "num_reps blocks of ref, the i-th with items[...][i] as arguments.",
    "BasicLayer": "ResNet's four stages of layer_reps blocks.",
    "VariantLayer": "Blocks doubling channels and downsampling where doublechannel / downsample say 1.",
    "ResNet": "Coarse ResNet: depth 18/34/50/101/152, or depth 20 for CIFAR from items.",
    "ResNetVariant": "ResNet of base_depth with searched doublechannel / downsample positions.",
    "LinearClassificationHead": "Global average pooling and a linear classifier.",
    "View": "Flatten to (N, -1).",
    "Quant": "Process: fake-quantise the network's convolutions to per-layer weight / activation bits.",
    "Prune": "Process: remove the channels its masks zero, optionally from trained weights.",
}


@hookimpl
def hyperbox_register_blocks(register):
    for name in TORCH_BLOCKS:
        register(name, f"torch.nn:{name}", help=f"PyTorch's nn.{name}.")
    for name, help in VEGA_BLOCKS.items():
        register(name, f"hyperbox.networks.vega:{name}", help=help)


@hookimpl
def hyperbox_register_trainers(register):
    register("ofa", "hyperbox.networks.ofa:OFATrainer", help="Once-for-All progressive shrinking with KD.")


@hookimpl
def hyperbox_register_estimators(register):
    register(
        "model_bits",
        "hyperbox.networks.vega:ModelBitsEstimator",
        help="Model size in bits: quantised weights at their bit width, the rest at 32.",
    )
