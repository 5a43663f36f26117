"""Timing helpers shared by the benchmarks (run as scripts from the repository root)."""

import ctypes
import time

import torch
from torch import nn


def timed_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(CPU seconds of this thread, wall seconds) of one training step's forward and backward."""
    cpu, wall = time.thread_time(), time.perf_counter()
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    return time.thread_time() - cpu, time.perf_counter() - wall


def keep_freed_memory() -> None:
    """Stop glibc from returning freed blocks to the OS (no page faults on reallocation)."""
    libc = ctypes.CDLL("libc.so.6")
    trim_threshold, mmap_threshold = -1, -3  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    libc.mallopt(trim_threshold, 2**30)
    libc.mallopt(mmap_threshold, 2**30)
