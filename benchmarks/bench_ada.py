"""Augmentation search on low-data digits, and the cost of applying a found policy.

1. Test accuracy of one fixed small CNN trained on a fifth of the digits training split, over 3
   seeds, with no augmentation, Kornia's RandAugment and TrivialAugment, and the policies found by
   a multi-trial search (random, on the same fifth) and by ``dada``; each policy is retrained with
   ``augment:`` on the stand-alone trainer, so every row trains the same way.
2. The time to apply each found policy (Kornia's AutoAugment with it, as ``load_policy`` returns
   it) to a 256x3x32x32 batch against Kornia's RandAugment on the same batch (interleaved, medians).

    .venv/bin/python benchmarks/bench_ada.py
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from hyperbox.ada import load_policy
from hyperbox.kernel import search
from hyperbox.kernel.cli import main
from hyperbox.nas.datasets import digits
from hyperbox.nas.datasets._splits import DataSplits

torch.set_num_threads(1)
SEEDS = (0, 1, 2)
EPOCHS = 30
NETWORK_ARCH = {"stem_width": 1, "stem_kernel": 0, "block_width": 1, "head_width": 1, "block1_op": 0, "block2_op": 2}
POLICY = {
    "ops": ["rotate", "shear_x", "shear_y", "translate_x", "translate_y", "contrast", "brightness"],
    "n_subpolicies": 3,
}


def low_data(seed: int) -> DataSplits:
    """Digits with a fifth of the training split (stratification aside: the first fifth of a shuffled split)."""
    full = digits(seed=seed, batch_size=32)
    keep = torch.randperm(len(full.train), generator=torch.Generator().manual_seed(seed))[: len(full.train) // 5]
    train = torch.utils.data.Subset(full.train, keep.tolist())
    return DataSplits(train, full.val, full.test, num_classes=10, input_shape=full.input_shape, batch_size=32)


def test_accuracy(augment, seed: int) -> float:
    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.subnet import build_subnet

    network = build_subnet(DigitsCNNSpace(), NETWORK_ARCH)
    trainer = {"name": "standalone", "epochs": EPOCHS, "augment": augment}
    estimators = ["accuracy", {"name": "accuracy", "split": "test"}]
    result = search(
        network, "random", trainer=trainer, dataset=low_data(seed), estimators=estimators, budget=1, seed=seed
    )
    return result.best.metrics["test_accuracy"]


def searched_policy(mutator: str, trainer: dict, budget: int, folder: Path) -> str:
    """The policy a ``mutator`` search finds, as ``hbk export`` writes it."""
    space = {"name": "augmented", "network": {"name": "digits_cnn"}, "network_arch": NETWORK_ARCH, "policy": POLICY}
    run, found = folder / mutator, folder / f"{mutator}-found"
    search(
        space, mutator, trainer=trainer, dataset=low_data(0), estimators=["accuracy"], budget=budget, seed=0,
        directory=run,
    )  # fmt: skip
    with contextlib.redirect_stdout(sys.stderr):  # its "wrote ..." line
        main(["export", str(run), "-o", str(found)])
    return str(found / "policy.json")


def found_policies() -> dict[str, str]:
    folder = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    policies = {
        "searched (random, 8 trials)": searched_policy("random", {"name": "standalone", "epochs": EPOCHS}, 8, folder),
        "searched (dada)": searched_policy("dada", {"name": "dada", "epochs": EPOCHS}, 1, folder),
    }
    print(f"searches: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return policies


def accuracies(policies: dict[str, str]) -> None:
    rows = {"none": "none", "randaugment": "randaugment", "trivialaugment": "trivialaugment", **policies}
    print(f"| augment | test accuracy, seeds {', '.join(map(str, SEEDS))} | mean |")
    print("| --- | --- | --- |")
    for label, augment in rows.items():
        values = [test_accuracy(augment, seed) for seed in SEEDS]
        print(f"| {label} | {', '.join(f'{v:.3f}' for v in values)} | {statistics.mean(values):.3f} |", flush=True)


def application_time(policies: dict[str, str]) -> None:
    """Each found policy (its operations run on any channel count) against RandAugment, interleaved."""
    from kornia.augmentation.auto import RandAugment

    modules = {label: load_policy(path) for label, path in policies.items()}
    modules["Kornia RandAugment(n=2, m=10)"] = rand = RandAugment(n=2, m=10)
    batch = torch.rand(256, 3, 32, 32)
    times: dict[str, list[float]] = {label: [] for label in modules}
    for _ in range(15):
        for label, module in modules.items():
            start = time.perf_counter()
            module(batch)
            times[label].append(time.perf_counter() - start)
    median_ms = {label: 1000 * statistics.median(values) for label, values in times.items()}
    rand_ms = median_ms[next(label for label, module in modules.items() if module is rand)]
    print("\n| 256x3x32x32 batch | median ms | / RandAugment |\n| --- | --- | --- |")
    for label, ms in median_ms.items():
        print(f"| {label} | {ms:.1f} | {ms / rand_ms:.2f} |")
    print()


if __name__ == "__main__":
    policies = found_policies()
    application_time(policies)
    accuracies(policies)
