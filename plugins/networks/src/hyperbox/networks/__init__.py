"""Hyperbox networks: OFA MobileNetV3, DARTS, NAS-Bench-201 and transformer search spaces.

Names are imported on first use, so that loading the plugin's registration imports no torch.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "BaseNASNetwork": "base",
        "OFAMobileNetV3": "ofa",
        "DartsNetwork": "darts",
        "DartsEvalNetwork": "darts",
        "NB201Network": "nb201",
        "VisionTransformerSpace": "vit",
    },
)
