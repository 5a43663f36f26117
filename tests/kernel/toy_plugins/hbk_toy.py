"""A torch-free toy plugin that registers one component of every kind and records lifecycle hooks."""

import json
import os
import time
from typing import Any, ClassVar

from hyperbox.kernel import Categorical, FloatRange, IntRange, Mutator, hookimpl
from hyperbox.kernel.ledger import Claim
from hyperbox.kernel.testing import ToyMutable, ToySpace


class ToyRandomMutator(Mutator):
    """Uniform sampling (toy)."""

    def sample_search(self):
        return self.space.sample(self.rng)


class ToyData:
    num_classes = 3

    def __init__(self, seed: int = 0, size: int = 10) -> None:
        self.seed, self.size = seed, size


def toy_space(width: int = 3, num_classes: int = 0):
    """A space of three toy decisions."""
    return ToySpace(
        [
            ToyMutable("op", Categorical(width)),
            ToyMutable("depth", IntRange(1, 5)),
            ToyMutable("lr", FloatRange(1e-3, 1e-1, log=True)),
        ]
    )


class ToyTrainer:
    """Trains nothing; sleeps on one trial so that a test can kill the run there (the marker
    file names the sleeping process), ``pause`` seconds on every trial, and fails every
    ``fail_every``-th trial."""

    def __init__(
        self,
        epochs: int = 1,
        sleep_at: int = -1,
        sleep: float = 0.0,
        pause: float = 0.0,
        fail_every: int = 0,
        weights: bool = False,
        augment: Any = None,
    ) -> None:
        if epochs < 0:
            raise ValueError(f"epochs={epochs} must not be negative")
        self.epochs, self.sleep_at, self.sleep, self.pause = epochs, sleep_at, sleep, pause
        self.fail_every, self.weights, self.augment = fail_every, weights, augment

    def trial(self, model, arch, data, context):
        time.sleep(self.pause)
        gpu_log = os.environ.get("TOY_GPU_LOG")  # which GPUs each process was given
        if gpu_log:
            with open(gpu_log, "a") as file:
                file.write(f"{os.getpid()} {os.environ.get('CUDA_VISIBLE_DEVICES')}\n")
        if self.fail_every and context.trial.number % self.fail_every == self.fail_every - 1:
            raise RuntimeError(f"toy failure in trial {context.trial.number}")
        if context.trial.number == self.sleep_at and not os.environ.get("TOY_NO_SLEEP"):
            marker = os.environ.get("TOY_SLEEP_MARKER")
            if marker:
                with open(marker + ".tmp", "w") as file:
                    file.write(str(os.getpid()))
                os.replace(marker + ".tmp", marker)
            time.sleep(self.sleep)
        for epoch in range(self.epochs):
            context.report(epoch, {"val_score": arch["depth"] / (epoch + 1)})
        return ToyTrained(model, context.trial.number) if self.weights else model


class ToyTrained:
    """A trained toy model: the space's decisions, and weights that name the trial that trained them."""

    def __init__(self, space, number):
        self.space, self.number = space, number

    def mutables(self):
        return self.space.mutables()

    def state_dict(self):
        return {"trained_by": self.number}


def toy_score(model, data, context):
    decisions = {m.key: m.decision for m in model.mutables()}
    return {"accuracy": decisions["op"] + decisions["depth"] / 10, "cost": decisions["depth"]}


def toy_estimator(scale: float = 1.0):
    """Scores op and depth."""
    return lambda model, data, context: {k: v * scale for k, v in toy_score(model, data, context).items()}


class ToyLedger:
    """A ledger shared by the runs of this process that name the same ``toy://NAME`` (toy)."""

    books: ClassVar[dict] = {}
    study = None

    def __init__(self, url, experiment=None, study=None):
        if experiment is not None:
            ToyLedger.books[url] = {"experiment": experiment, "claimed": 0, "finished": [], "released": []}
        self.book = ToyLedger.books[url]
        self.experiment = self.book["experiment"]
        self.seen, self.mine = 0, set()

    def claim(self):
        if self.book["released"]:
            return Claim(self.book["released"].pop())
        if self.book["claimed"] >= self.experiment["budget"]["trials"]:
            return None
        self.book["claimed"] += 1
        return Claim(self.book["claimed"] - 1)

    def start(self, trial):
        pass

    def finish(self, trial):
        self.book["finished"].append(trial)
        self.mine.add(trial.number)

    def release(self, claim):
        self.book["released"].append(claim.number)

    def others(self):
        new, self.seen = self.book["finished"][self.seen :], len(self.book["finished"])
        return [t for t in new if t.number not in self.mine]

    def close(self):
        pass


def toy_command(argv):
    print("toy command", " ".join(argv))
    return 0


@hookimpl
def hyperbox_register_spaces(register):
    register("toy_space", toy_space)


@hookimpl
def hyperbox_register_mutators(register):
    register("toy_random", "hbk_toy:ToyRandomMutator", help="Uniform sampling (toy).")


@hookimpl
def hyperbox_register_estimators(register):
    register("toy_score", toy_estimator)


@hookimpl
def hyperbox_register_trainers(register):
    register("toy_trainer", ToyTrainer)


@hookimpl
def hyperbox_register_datasets(register):
    register("toy_data", ToyData)


@hookimpl
def hyperbox_register_storages(register):
    register("toy", ToyLedger, help="In-process shared ledger (toy).")


@hookimpl
def hyperbox_register_augmentations(register):
    register("toy_shift", ToyShift, help="Adds a constant to a batch (toy).")


class ToyShift:
    """A batch transform adding ``by``; it records the channel count the kernel filled in."""

    def __init__(self, by: float = 1.0, in_channels: int | None = None) -> None:
        self.by, self.in_channels = by, in_channels

    def __call__(self, batch):
        return [value + self.by for value in batch]


@hookimpl
def hyperbox_register_blocks(register):
    register("ToyBlock", toy_block, help="A block that scales its input (toy).")


def toy_block(factor=2):
    """A module multiplying its input by ``factor`` (torch is imported only when one is built)."""
    from torch import nn

    class Scale(nn.Module):
        def forward(self, x):
            return factor * x

    return Scale()


@hookimpl
def hyperbox_register_commands(register):
    register("toy", toy_command, help="A toy command.")


def _record(event, **fields):
    path = os.environ.get("TOY_EVENTS")
    if path:
        with open(path, "a") as file:
            file.write(json.dumps({"event": event, **fields}) + "\n")


class ToySubnet:
    """The plain model of a toy space: nothing but its decisions."""

    def __init__(self, arch):
        self.arch = dict(arch)


@hookimpl
def hyperbox_build_subnet(model, arch):
    return ToySubnet(arch) if isinstance(model, ToySpace) else None


@hookimpl
def hyperbox_export_model(model, input_shape, format, path):
    if not isinstance(model, ToySubnet) or format != "json":
        return None
    with open(path, "w") as file:
        json.dump({"arch": model.arch, "input_shape": list(input_shape)}, file)
    return path


@hookimpl
def hyperbox_export_parts(space, subnet, arch, directory):
    if not isinstance(subnet, ToySubnet):
        return None
    part = directory / "toy_part.json"
    part.write_text(json.dumps({"arch": subnet.arch}))
    return subnet, [part]


@hookimpl
def hyperbox_run_start(run):
    _record("run_start", resumed=run.resumed)


@hookimpl
def hyperbox_run_end(run, summary):
    _record("run_end", trials=summary["trials"])


@hookimpl
def hyperbox_trial_start(run, trial):
    _record("trial_start", number=trial.number)


@hookimpl
def hyperbox_trial_end(run, trial):
    _record("trial_end", number=trial.number, state=trial.state)


@hookimpl
def hyperbox_epoch_end(run, trial, epoch, metrics):
    _record("epoch_end", number=trial.number if trial else None, epoch=epoch)
