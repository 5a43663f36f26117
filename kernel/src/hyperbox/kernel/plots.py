"""PNG plots of a run: optimisation history and, with several objectives, the Pareto front."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from hyperbox.kernel.errors import HyperboxError

        raise HyperboxError("plots need matplotlib: pip install 'hyperbox-kernel[plot]'") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_history(trials: list[dict], objective: str, direction: str, path: Path) -> Path:
    """Each complete trial's ``objective`` and the best so far, against the trial number."""
    plt = _pyplot()
    complete = [t for t in trials if t["state"] == "complete" and objective in t["metrics"]]
    numbers = [t["number"] for t in complete]
    values = [t["metrics"][objective] for t in complete]
    pick = max if direction == "maximize" else min
    best = [pick(values[: i + 1]) for i in range(len(values))]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(numbers, values, s=14, label=objective)
    axes.step(numbers, best, where="post", color="tab:red", label=f"best ({direction})")
    axes.set_xlabel("trial")
    axes.set_ylabel(objective)
    axes.set_title("optimisation history")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_pareto_front(trials: list[dict], objectives: list[str], directions: list[str], path: Path) -> Path:
    """Complete trials on the first two objectives, the Pareto front (of all objectives) highlighted."""
    from hyperbox.kernel.ranking import dominates

    plt = _pyplot()
    x_name, y_name = objectives[:2]
    complete = [t for t in trials if t["state"] == "complete"]
    signed = {
        t["number"]: [t["metrics"][o] if d == "maximize" else -t["metrics"][o] for o, d in zip(objectives, directions)]
        for t in complete
    }
    front = {n for n, v in signed.items() if not any(dominates(w, v) for w in signed.values())}
    figure, axes = plt.subplots(figsize=(6, 4))
    others = [t for t in complete if t["number"] not in front]
    on_front = sorted((t for t in complete if t["number"] in front), key=lambda t: t["metrics"][x_name])
    axes.scatter(
        [t["metrics"][x_name] for t in others],
        [t["metrics"][y_name] for t in others],
        s=14,
        color="tab:gray",
        label="trials",
    )
    axes.plot(
        [t["metrics"][x_name] for t in on_front],
        [t["metrics"][y_name] for t in on_front],
        "o-",
        color="tab:red",
        label="Pareto front",
    )
    axes.set_xlabel(f"{x_name} ({directions[0]})")
    axes.set_ylabel(f"{y_name} ({directions[1]})")
    axes.set_title("Pareto front")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
