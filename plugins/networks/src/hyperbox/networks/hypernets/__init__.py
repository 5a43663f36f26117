"""Hypernets' search spaces in PyTorch: ``dnn_search_space``, ``cnn_search_space`` and
``enas_micro_search_space``, with the seed's choices and defaults, written with
:mod:`hyperbox.nas.hyper` (registered as the spaces ``dnn``, ``cnn`` and ``enas_micro``).

The output layer gives logits (``output_activation=None``): the trainers' cross-entropy applies
the softmax.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "dnn_search_space": "_dnn",
        "dnn_block": "_dnn",
        "dnn": "_dnn",
        "cnn_search_space": "_cnn",
        "conv_block": "_cnn",
        "cnn": "_cnn",
        "enas_micro_search_space": "_enas_micro",
        "enas_micro": "_enas_micro",
    },
)
