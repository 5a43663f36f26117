"""Hyperbox ADA: augmentation-policy search over Kornia operations."""
