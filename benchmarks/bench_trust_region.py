"""autoHyper's trust-region search (learning rate and weight decay) against the reference code's
``optimize()`` on the same response surfaces.

The reference (github.com/MathieuTuli/autoHyper, branch ``main``, ``src/autohyper/autohyper.py:optimize``
with the defaults of ``components.py:HyperParameters``) is re-derived below statement by statement,
with training replaced by a rank function. The problem is the tests' synthetic basin
(``tests/hpo/test_trust_region.py:basin``): 16 layers of noise, layer ``i`` gains rank-2
structure within a log-distance ``radius_i`` (0.4 to 4) of an optimum ``(best_lr, best_wd)``, so
the rank falls in rings towards it; no training, the figures are deterministic. Both start at
``(1e-4, 1e-7)`` (the reference starts weight decay at 0, which this log-scale surface cannot
score; its first step up from 0 is 1e-7). Each is given 300 short trials at most.

    .venv/bin/python benchmarks/bench_trust_region.py
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from hyperbox.hpo.autohyper import TrustRegionAutoHyper, low_rank_metric

OPTIMA = [(2e-2, 5e-4, 0), (3e-3, 1e-5, 1), (1e-1, 1e-3, 2)]
LIMIT = 300


class Weights:
    def __init__(self, weights):
        self.weights = weights

    def named_parameters(self):
        return [(f"{i}.weight", torch.from_numpy(w)[..., None, None]) for i, w in enumerate(self.weights)]


def basin(best_lr, best_wd, layers=16, seed=0):
    rng = np.random.default_rng(seed)
    noise = [rng.normal(size=(12, 8)) for _ in range(layers)]
    signal = [rng.normal(size=(12, 2)) @ rng.normal(size=(2, 8)) for _ in range(layers)]
    radii = np.linspace(0.4, 4.0, layers)

    def train(lr, weight_decay):
        distance = np.hypot(np.log(lr / best_lr), np.log(weight_decay / best_wd) / 1.5)
        return Weights([n + (distance < r) * s for n, s, r in zip(noise, signal, radii)])

    return train


def reference_optimize(rank_of, min_delta=5e-3, scale_delta=5e-3, power=0.8):
    """``optimize()`` of the reference; returns ``(lr, weight_decay, trials, stopped)``."""
    hps = {
        "lr": {"current": 1e-4, "scale": 1.45, "minimum": 1e-6, "stop": False},
        "weight_decay": {"current": 1e-7, "scale": 2.0, "minimum": 0.0, "stop": False},
    }
    region = list(itertools.product([-1, 0, 1], repeat=2))
    buffer = np.full((3, 3), -1.0)
    rank_history, establish_start, trials = [], True, 0

    def scaled(hp, scale_power):
        return 1e-7 if scale_power == 1 and hp["current"] == 0 else hp["current"] * hp["scale"] ** scale_power

    while True:
        for scale_power in region:
            index = tuple(np.array(scale_power) + 1)
            if buffer[index] < 0:
                if trials == LIMIT:
                    return hps["lr"]["current"], hps["weight_decay"]["current"], trials, False
                point = [scaled(hp, p) for hp, p in zip(hps.values(), scale_power)]
                buffer[index] = rank_of(*point)
                trials += 1
        if establish_start and (buffer < 0.85).all() and all(hp["current"] >= hp["minimum"] for hp in hps.values()):
            index = tuple(np.argwhere(buffer == np.max(buffer))[0])
            if index == (1, 1):
                index = (0, 0)
        else:
            establish_start = False
            index = tuple(np.argwhere(buffer == np.min(buffer))[-1])
            rank_history.append(np.min(buffer))
            if index == (1, 1):
                index = (2, 2)
        for axis, i in enumerate(index):
            buffer = np.roll(buffer, (i - 1) * -1, axis=axis)
        if index[0] in (0, 2):
            buffer[index[0], :] = -1.0
        if index[1] in (0, 2):
            buffer[:, index[1]] = -1.0
        for hp, p in zip(hps.values(), np.array(index) - 1):
            hp["current"] = scaled(hp, p)
        if establish_start:
            continue
        if np.cumprod(rank_history)[-1] ** power < min_delta:
            for hp in hps.values():
                if np.isclose(hp["scale"], 1.0, atol=scale_delta):
                    hp["stop"] = True
                hp["scale"] = (hp["scale"] - 1.0) * np.exp(-2.5) + 1
        if all(hp["stop"] for hp in hps.values()):
            return hps["lr"]["current"], hps["weight_decay"]["current"], trials, True


def main() -> None:
    print("| optimum (lr, wd) | search | trials | converged | lr found | wd found | rank there | log-distance |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for best_lr, best_wd, seed in OPTIMA:
        train = basin(best_lr, best_wd, seed=seed)

        def rank(lr, weight_decay, train=train):
            return low_rank_metric(train(lr, weight_decay))

        ours = TrustRegionAutoHyper(train, max_trials=LIMIT).run()
        trials = sum(msg == "trial" for *_, msg in ours.history)
        rows = {
            "reference optimize()": reference_optimize(rank),
            "ours": (ours.lr, ours.weight_decay, trials, ours.converged),
        }
        for name, (lr, wd, trials, converged) in rows.items():
            distance = np.hypot(np.log(lr / best_lr), np.log(wd / best_wd) / 1.5)
            print(
                f"| ({best_lr:g}, {best_wd:g}) | {name} | {trials} | {'yes' if converged else 'no'} "
                f"| {lr:.4g} | {wd:.4g} | {rank(lr, wd):.3f} | {distance:.2f} |"
            )


if __name__ == "__main__":
    main()
