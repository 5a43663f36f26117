"""Trials per minute with 1 and 2 local workers on one SQLite study (target: 2 workers at least
1.7x one worker on a 2-core machine), and the kernel's overhead per trial against the trial's
own training time.

Each trial trains a digits CNN architecture stand-alone (random search), so the figures are
those of a real, small search:

    .venv/bin/python benchmarks/bench_workers.py [--trials 12] [--epochs 2]

Throughput is counted from the first trial's start to the last trial's end (``events.jsonl``),
so the workers' start-up (importing torch) is reported apart, in the end-to-end time.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml


def experiment(directory: Path, trials: int, epochs: int) -> Path:
    path = directory / "bench.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bench-workers",
                "seed": 0,
                "output_dir": str(directory / "runs"),
                "dataset": {"name": "digits"},
                "space": {"name": "digits_cnn"},
                "mutator": {"name": "random"},
                "trainer": {"name": "standalone", "epochs": epochs},
                "estimators": ["accuracy"],
                "objective": "accuracy",
                "budget": {"trials": trials},
            }
        )
    )
    return path


def measure(path: Path, workers: int, threads: int | None = None) -> dict[str, float]:
    """One run with ``workers`` local workers (``threads`` torch threads each; None: the cores split)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    before = set((path.parent / "runs").glob("*"))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hyperbox.kernel.cli", "run", str(path), "--workers", str(workers), "-q"],
        check=True,
        capture_output=True,
        env=env,
    )
    wall = time.perf_counter() - start
    (directory,) = set((path.parent / "runs").glob("*")) - before
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    stamps = {
        kind: [datetime.fromisoformat(e["timestamp"]).timestamp() for e in events if e["event"] == kind]
        for kind in ("trial_start", "trial_end")
    }
    trials = [json.loads(line) for line in (directory / "trials.jsonl").read_text().splitlines()]
    span = max(stamps["trial_end"]) - min(stamps["trial_start"])
    training = sum(t["duration_s"] for t in trials)
    return {
        "trials": len(trials),
        "wall_s": wall,
        "span_s": span,
        "per_minute": 60 * len(trials) / span,
        "training_s": training / len(trials),
        # each worker's time not spent training: claiming, sampling, recording, waiting for the study
        "overhead_s": (workers * span - training) / len(trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.trials} trials of a digits CNN, {args.epochs} epochs each, SQLite study")
    with tempfile.TemporaryDirectory() as folder:
        path = experiment(Path(folder), args.trials, args.epochs)
        # the default split (one worker: every core) and, as a second baseline, one thread for one worker
        results = {(1, None): measure(path, 1), (1, 1): measure(path, 1, threads=1), (2, None): measure(path, 2)}
    print(
        f"{'workers':>7} {'threads':>7} {'trials/min':>11} {'vs 1 worker':>12} {'train s/trial':>14} "
        f"{'overhead s/trial':>17} {'overhead share':>15} {'end-to-end s':>13}"
    )
    cores = os.cpu_count() or 1
    for (workers, threads), r in results.items():
        speedup = r["per_minute"] / results[(1, None)]["per_minute"]
        share = r["overhead_s"] / r["training_s"]
        print(
            f"{workers:>7} {threads or max(1, cores // workers):>7} {r['per_minute']:>11.1f} {speedup:>11.2f}x "
            f"{r['training_s']:>14.3f} {r['overhead_s']:>17.3f} {share:>14.1%} {r['wall_s']:>13.1f}"
        )


if __name__ == "__main__":
    main()
