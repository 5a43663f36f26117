"""Once-for-All: the elastic MobileNetV3 supernet and its progressive-shrinking trainer."""

from hyperbox.networks.ofa._mbv3 import OFAMobileNetV3
from hyperbox.networks.ofa._trainer import OFATrainer

__all__ = ["OFAMobileNetV3", "OFATrainer"]
