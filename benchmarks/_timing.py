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


class RatioReport:
    """Prints each comparison's median (CPU, wall) seconds and ratio, then the ratio of the summed medians."""

    def __init__(self, ours: str, baseline: str, target: float) -> None:
        self.ours, self.baseline, self.target = ours, baseline, target
        self.totals = {ours: [0.0, 0.0], baseline: [0.0, 0.0]}

    def add(self, label: str, medians: dict[str, tuple[float, float]]) -> None:
        for name, clocks in medians.items():
            self.totals[name] = [total + clock for total, clock in zip(self.totals[name], clocks)]
        (ours_cpu, ours_wall), (base_cpu, base_wall) = medians[self.ours], medians[self.baseline]
        print(f"  {label}")
        print(
            f"    CPU  {self.ours} {ours_cpu * 1e3:7.2f} ms  {self.baseline} {base_cpu * 1e3:7.2f} ms  "
            f"ratio {ours_cpu / base_cpu:.3f}   | wall {ours_wall * 1e3:7.2f} / {base_wall * 1e3:7.2f} ms  "
            f"ratio {ours_wall / base_wall:.3f}"
        )

    def finish(self) -> None:
        cpu = self.totals[self.ours][0] / self.totals[self.baseline][0]
        wall = self.totals[self.ours][1] / self.totals[self.baseline][1]
        print(f"overall (summed medians): CPU ratio {cpu:.3f}, wall ratio {wall:.3f}; target <= {self.target}")
