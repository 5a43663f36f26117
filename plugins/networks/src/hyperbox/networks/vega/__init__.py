"""Vega's fine-grained network blocks (huawei-noah/vega) in PyTorch: stems, residual blocks, ``Repeat``, layers,
ResNet / ResNetVariant and the classification head, with Vega's class and argument names.

Names are imported on first use; the table maps each public name to the submodule that defines it.
"""

from hyperbox.kernel.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "View": "blocks",
    "InitialBlock": "blocks",
    "SmallInputInitialBlock": "blocks",
    "ShortCut": "blocks",
    "BasicConv": "blocks",
    "BottleConv": "blocks",
    "BasicBlock": "blocks",
    "BottleneckBlock": "blocks",
    "Repeat": "blocks",
    "BasicLayer": "blocks",
    "VariantLayer": "blocks",
    "ResNet": "blocks",
    "ResNetVariant": "blocks",
    "LinearClassificationHead": "blocks",
    "Quant": "quant",
    "QuantConv": "quant",
    "ModelBitsEstimator": "quant",
    "Prune": "prune",
    "ChannelSelect": "prune",
}

__getattr__, __all__ = lazy_exports(__name__, EXPORTS)
