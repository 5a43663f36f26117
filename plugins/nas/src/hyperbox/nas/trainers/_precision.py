"""Mixed precision, named as Lightning names it: ``32``, ``bf16`` (``bf16-mixed``) or ``16-mixed``.

``bf16`` runs the forward passes under ``torch.autocast`` in bfloat16 (CUDA, or CPUs with bf16
support); ``16-mixed`` runs them in float16 on CUDA and scales the loss with a ``GradScaler`` so
that small gradients do not underflow. The weights and the optimizer stay in float32 either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from hyperbox.kernel import ConfigError

__all__ = ["PRECISIONS", "Precision", "check_precision"]

#: Accepted names, each with the name it stands for.
PRECISIONS = {32: "32", "32": "32", "32-true": "32", "bf16": "bf16", "bf16-mixed": "bf16", "16-mixed": "16-mixed"}


def check_precision(precision: int | str) -> str:
    """The canonical name of ``precision`` (``32``, ``bf16`` or ``16-mixed``)."""
    if isinstance(precision, bool) or precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be 32, bf16 or 16-mixed")
    return PRECISIONS[precision]


class Precision:
    """``precision`` (checked with :func:`check_precision`) on ``device``; ``16-mixed`` off CUDA
    is a :class:`ConfigError` (float16 autocast and its grad scaler are CUDA's)."""

    def __init__(self, precision: int | str, device: torch.device) -> None:
        self.name = check_precision(precision)
        self.device = device
        if self.name == "16-mixed" and device.type != "cuda":
            raise ConfigError(
                f"precision: 16-mixed needs a CUDA device, and the training runs on {device}; "
                "use precision: bf16 (or 32) on a CPU"
            )
        self.dtype = {"bf16": torch.bfloat16, "16-mixed": torch.float16}.get(self.name)
        #: scales the loss under ``16-mixed``; a no-op otherwise (its state is checkpointed either way)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.name == "16-mixed")

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Forward passes inside run in the reduced precision (nothing changes at ``32``)."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.dtype):
            yield

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(
        self, optimizer: torch.optim.Optimizer, parameters: Iterable[nn.Parameter], grad_clip: float | None
    ) -> None:
        """Unscale, clip to ``grad_clip`` (when given), step (skipped by the scaler on an overflow), update."""
        if grad_clip:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters, grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()

    def gradients(self, loss: torch.Tensor, tensors: list[torch.Tensor]) -> tuple[torch.Tensor | None, ...]:
        """``d loss / d tensors`` (None where unreached) through the scaler: the scaled loss's
        gradients, divided back (the architecture steps of DARTS take gradients this way)."""
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
        found = torch.autograd.grad(loss * scale, tensors, allow_unused=True)
        return tuple(None if g is None else g / scale for g in found)
