"""Hypernets-style search spaces in PyTorch: parameters (``Choice``, ``MultipleChoice``, ``Bool``, ``Int``, ``Real``,
``Constant``, ``Dynamic``), combinators (``Sequential``, ``Optional``, ``Or``, ``Permutation``,
``Repeat``, ``InputChoice``, ``ConnectLooseEnd``, ``HyperSpace``) and Keras-named layers whose
input sizes are inferred (``Dense``, ``Conv2D``, ``BatchNormalization``, ..., and ENAS'
``CalibrateSize``, ``FactorizedReduction``, ``SafeConcatenate``).

A space written with them is searched by every mutator::

    from hyperbox.kernel import search
    from hyperbox.nas.hyper import Bool, Choice, Dense, Dropout, HyperSpace, Optional, Repeat, Sequential
    from hyperbox.nas.hyper import BatchNormalization

    units = Choice([64, 128])
    block = lambda step: Sequential([Dense(units, activation="relu"), Optional(BatchNormalization())])
    space = HyperSpace(Sequential([Repeat(block, [1, 2, 3]), Dense(10)]), input_shape=64)
    result = search(space, "random", trainer="standalone", dataset="digits", estimators=["accuracy"], budget=5)
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            ["Bool", "Choice", "Constant", "Dynamic", "Int", "MultipleChoice", "Real", "value_of"], "params"
        ),
        **dict.fromkeys(
            ["ConnectLooseEnd", "HyperSpace", "InputChoice", "Optional", "Or", "Permutation", "Repeat", "Sequential"],
            "ops",
        ),
        **dict.fromkeys(["CalibrateSize", "FactorizedReduction", "SafeConcatenate"], "enas_layers"),
        **dict.fromkeys(
            [
                "Activation",
                "Add",
                "AveragePooling2D",
                "BatchNormalization",
                "Concatenate",
                "Conv2D",
                "Dense",
                "Dropout",
                "Flatten",
                "GlobalAveragePooling2D",
                "HyperLayer",
                "Identity",
                "MaxPooling2D",
                "SeparableConv2D",
            ],
            "layers",
        ),
    },
)
