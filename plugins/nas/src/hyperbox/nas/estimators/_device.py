"""Which device a trainer or an estimator runs on."""

from __future__ import annotations

from typing import Any

import torch


def resolve_device(requested: str | torch.device | None, context: Any = None) -> torch.device:
    """``requested``, else the run's ``context.device``, else the CPU; ``"auto"`` picks CUDA when present."""
    name = requested if requested is not None else getattr(context, "device", None) or "cpu"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={name!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1', 'auto')") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r}: CUDA is not available on this machine")
    return device
