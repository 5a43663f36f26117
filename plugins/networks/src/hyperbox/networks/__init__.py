"""Hyperbox networks: OFA MobileNetV3, DARTS, NAS-Bench-201 and transformer search spaces."""
