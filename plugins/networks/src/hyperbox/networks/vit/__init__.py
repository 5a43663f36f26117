"""A vision transformer search space with AutoFormer-style weight sharing.

Names are imported on first use, so that importing the package costs nothing until then.
"""

from hyperbox.kernel.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"VisionTransformerSpace": "network"})
