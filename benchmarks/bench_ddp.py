"""Samples per second of one-shot supernet training with 1 and 2 processes (``hbk run --nproc``),
and in bf16 against float32 on one process, in one run.

The supernet is the demo's digits CNN space trained by the ``oneshot`` trainer (single paths,
per-process batches of ``--batch-size``); the other settings stay those of the experiment, so the
figures compare like with like:

    .venv/bin/python benchmarks/bench_ddp.py [--epochs 4] [--batch-size 32]

Throughput is an epoch's training samples over the time between the first and the last epoch's
end (``events.jsonl``): start-up (importing torch, torchrun's rendezvous) and the first epoch
(warm-up) are left out. One process runs with one thread and with every core; two processes
share the cores, one thread each.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import yaml

from hyperbox.kernel.files import read_jsonl


def experiment(directory: Path, epochs: int, batch_size: int, precision: str) -> Path:
    path = directory / f"bench-{precision}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": f"bench-ddp-{precision}",
                "seed": 0,
                "output_dir": str(directory / "runs"),
                "dataset": {"name": "digits"},
                "space": {"name": "digits_cnn"},
                "mutator": {"name": "random"},
                "trainer": {"name": "oneshot", "epochs": epochs, "batch_size": batch_size, "precision": precision},
                "estimators": ["params"],
                "objective": "params",
                "budget": {"trials": 1},
            }
        )
    )
    return path


def samples_per_second(path: Path, processes: int, threads: int | None) -> float:
    """One run on ``processes`` processes (``threads`` torch threads each; None: the cores split)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    before = set((path.parent / "runs").glob("*"))
    subprocess.run(
        [sys.executable, "-m", "hyperbox.kernel", "run", str(path), "--nproc", str(processes), "-q"],
        check=True,
        capture_output=True,
        env=env,
    )
    (run,) = set((path.parent / "runs").glob("*")) - before
    ends = [e["timestamp"] for e in read_jsonl(run / "events.jsonl") if e.get("event") == "epoch_end"]
    seconds = (datetime.fromisoformat(ends[-1]) - datetime.fromisoformat(ends[0])).total_seconds()
    from hyperbox.nas.datasets import digits

    return (len(ends) - 1) * len(digits().train) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import torch

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fp32 = experiment(directory, args.epochs, args.batch_size, "32")
        bf16 = experiment(directory, args.epochs, args.batch_size, "bf16")
        rows = [
            ("float32", 1, 1, samples_per_second(fp32, 1, 1)),
            ("float32", 1, cores, samples_per_second(fp32, 1, cores)),
            ("float32", 2, 1, samples_per_second(fp32, 2, None)),
            ("bf16", 1, 1, samples_per_second(bf16, 1, 1)),
        ]
    print(f"torch {torch.__version__}, bf16 CPU kernels (mkldnn bf16): {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    print("| precision | processes | threads each | samples/s | ratio to the first row |")
    print("| --- | --- | --- | --- | --- |")
    for precision, processes, threads, rate in rows:
        print(f"| {precision} | {processes} | {threads} | {rate:.0f} | {rate / rows[0][3]:.2f} |")


if __name__ == "__main__":
    main()
