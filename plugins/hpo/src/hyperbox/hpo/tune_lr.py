"""``hbk tune-lr EXPERIMENT``: autoHyper's initial learning rate for an experiment's trainer, or
with ``--weight-decay`` its learning rate and weight decay together (the trust-region variant).

Each short trial trains at a constant rate (the trainer's ``scheduler`` set to none where it has
one, as the reference's own configuration does: github.com/MathieuTuli/autoHyper, branch
``master``, ``src/autohyper/config.yaml``, ``scheduler: 'None'``) and is scored after every epoch. A search
that ends by one of the reference's rules is *converged*; one that does not (a budget, or a
network that learns at no rate) says why, exits 3 and writes no ``tuned.yaml`` unless
``--allow-unconverged``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time

import yaml

from hyperbox.kernel import ConfigError, Context, load_arch
from hyperbox.kernel.components import Resolver
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import check_arguments, load_experiment
from hyperbox.kernel.events import EventLog
from hyperbox.kernel.files import write_text
from hyperbox.kernel.plugins import get_manager
from hyperbox.kernel.rundir import RunDirectory
from hyperbox.kernel.trial import TrialRecord, trial_seed

TUNED_FILE = "tuned.yaml"
#: the exit status of a search that did not converge; the CLI's own are 1 (an error) and 2 (bad input)
UNCONVERGED_EXIT = 3
LABELS = {"lr": "learning rate", "weight_decay": "weight decay"}
#: ``summary.json``'s ``kind``: the directory holds a tune-lr search, not a run to resume.
KIND = "tune-lr"


def tune_lr_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hbk tune-lr",
        description="autoHyper: pick the initial learning rate of an experiment's trainer from short "
        "trials of one architecture; writes lrrt.csv and tuned.yaml (the experiment with that rate) "
        "into a new run directory. With --weight-decay, the trust-region search tunes the learning rate "
        "and weight decay together and writes lrwd.csv instead of lrrt.csv. A search that does not "
        f"converge exits {UNCONVERGED_EXIT} (1 is an error, 2 bad input) and writes no tuned.yaml, unless "
        "--allow-unconverged.",
    )
    parser.add_argument("experiment", help="experiment YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted overrides")
    parser.add_argument("--arch", help="architecture JSON to train (default: the mutator's first proposal)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each short trial (default 5)")
    parser.add_argument(
        "--weight-decay",
        action="store_true",
        help="tune weight decay with the learning rate (trust-region search starting at --min-lr)",
    )
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--max-lr", type=float, default=0.1, help="top of the first scan (not with --weight-decay)")
    parser.add_argument(
        "--num-split", type=int, default=20, help="points of the log grid per scan (not with --weight-decay)"
    )
    parser.add_argument(
        "--max-trials",
        type=int,
        help="short trials at most; a search stopped by it has not converged (default: no limit, or 200 "
        "with --weight-decay)",
    )
    parser.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="exit 0 and write tuned.yaml (with the rate returned, a trained one) even when the search did not "
        "converge",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no console log")
    args = parser.parse_intermixed_args(argv)  # options may come between overrides
    from hyperbox.hpo._epoch_weights import EpochWeights
    from hyperbox.hpo.autohyper import (
        LR_CEILING,
        LR_DELTA,
        noise_only_unfoldings,
        ranked_unfoldings,
        tune_lr,
        tune_lr_wd,
    )

    # checked before the run directory exists: a bad option leaves nothing behind
    if not 0 < args.min_lr < args.max_lr <= LR_CEILING:
        raise ConfigError(
            f"tune-lr: need 0 < --min-lr < --max-lr <= {LR_CEILING:g}, got {args.min_lr} and {args.max_lr}"
        )
    if not args.weight_decay and args.max_lr - args.min_lr < LR_DELTA:  # the search would end untrained
        raise ConfigError(
            f"tune-lr: --max-lr - --min-lr must be at least {LR_DELTA:g}, got {args.min_lr} and {args.max_lr}"
        )
    for option, value, least in (
        ("--epochs", args.epochs, 1),
        ("--max-trials", 1 if args.max_trials is None else args.max_trials, 1),
        ("--num-split", args.num_split, 2),
    ):
        if value < least:
            raise ConfigError(f"tune-lr: {option} must be at least {least}, got {value}")
    tuned_keys = ["lr", "weight_decay"] if args.weight_decay else ["lr"]
    experiment = load_experiment(args.experiment, args.overrides)
    for key in tuned_keys:
        if f"trainer.{key}" in experiment.hparams:
            raise ConfigError(f"{experiment.source}: hparams searches trainer.{key}; tune-lr picks one value instead")
    manager = get_manager()
    trainer_factory = manager.registry.get("trainers", experiment.trainer.name).load()
    probe = {"lr": 0.1, "weight_decay": 0.0, "epochs": 1} if args.weight_decay else {"lr": 0.1, "epochs": 1}
    check_arguments(trainer_factory, probe, f"{experiment.source}: trainer", partial=True)
    constant_rate = {"scheduler": None} if _accepts(trainer_factory, "scheduler") else {}
    if not constant_rate:
        print(
            f"hbk: note: trainer {experiment.trainer.name} has no scheduler argument: its own schedule, if any, "
            "runs in the short trials (autoHyper expects a constant rate)",
            file=sys.stderr,
        )
    try:
        given_arch = load_arch(args.arch) if args.arch else None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    # the experiment's components; never started, the search writes nothing (the short trials are recorded here)
    components = build_search(experiment, console=False, manager=manager)
    try:  # the architecture is checked against the space
        arch = components.mutator.apply(given_arch) if given_arch is not None else components.mutator.reset()
    except ValueError as error:
        components.close()
        raise ConfigError(f"--arch {args.arch}: {error}") from None
    except BaseException:
        components.close()
        raise
    components.close()
    parameters = getattr(components.model, "parameters", None)
    if parameters is not None and not any(parameter.dim() == 4 for parameter in parameters()):
        raise ConfigError(
            f"{experiment.source}: space {experiment.space.name}: autoHyper's rank reads convolution "
            "weights, and the network has none"
        )
    arch_json = components.space.to_json(arch)
    resolver = Resolver(lambda: manager.registry)
    directory = RunDirectory.create(experiment.output_dir, experiment.name, f"{experiment.source}: output_dir")
    directory.write_config(experiment.to_json())
    log = EventLog(directory.events_file, console=not args.quiet)
    count = 0
    left_out: list[str] = []
    started = time.monotonic()

    def short_trial(lr: float, weight_decay: float | None = None):
        nonlocal count
        number, count = count, count + 1
        values = {"lr": lr} if weight_decay is None else {"lr": lr, "weight_decay": weight_decay}
        log.info("lr_trial", number=number, **values, **constant_rate)
        arguments = {**values, "epochs": args.epochs, **constant_rate}
        trainer = resolver.trainer(experiment.trainer, arguments=arguments)
        begin = time.monotonic()
        with EpochWeights() as weights:

            def report(epoch: int, metrics: dict[str, float]) -> None:
                weights.take()
                log.info("epoch_end", trial=number, epoch=epoch, **metrics)

            context = Context(
                seed=trial_seed(experiment.seed, 0),
                device=experiment.device,
                log=log,
                directory=directory.path,
                on_report=report,
            )
            epochs = weights.snapshots(trainer.trial(components.model, arch, components.data, context))
        if number == 0:  # the supernet was checked; the architecture it trains may hold less
            if not ranked_unfoldings(epochs[0]):
                raise ConfigError(
                    f"{experiment.source}: architecture {json.dumps(arch_json)}: autoHyper's rank reads convolution "
                    "weights with 2 or more input and output channels, and it trains none"
                )
            left_out.extend(noise_only_unfoldings(epochs[0]))
            log.info("rank_left_out", unfoldings=left_out)
        metrics = {key: float(value) for key, value in values.items()}
        record = TrialRecord(number, arch_json, context.seed, "complete", metrics, None, time.monotonic() - begin)
        directory.append(record)  # hbk show lists the short trials
        return epochs

    try:
        if args.weight_decay:
            budget = {} if args.max_trials is None else {"max_trials": args.max_trials}
            result = tune_lr_wd(short_trial, directory.path, lr=args.min_lr, **budget)
            chosen, record = (result.lr, result.weight_decay), "lrwd.csv"
            lr_scale, weight_decay_scale = result.scales
            outcome = {
                "final_range": {  # the last trust region: the centre times its step factors to -1 and +1
                    "lr": [result.lr / lr_scale, result.lr * lr_scale],
                    "weight_decay": [
                        result.weight_decay / weight_decay_scale,
                        result.weight_decay * weight_decay_scale,
                    ],
                },
                "scales": list(result.scales),
                "last_trained": None if result.last_trained is None else list(result.last_trained),
                "history": [list(row) for row in result.history],
            }
        else:
            result = tune_lr(
                short_trial,
                directory.path,
                min_lr=args.min_lr,
                max_lr=args.max_lr,
                num_split=args.num_split,
                max_trials=args.max_trials,
            )
            chosen, record = (result.lr,), "lrrt.csv"
            outcome = {
                "final_range": list(result.final_range),
                "last_trained": result.last_trained,
                "history": [list(row) for row in result.history],
            }
    except BaseException:
        log.close()
        if not directory.trials():  # no short trial finished: nothing worth keeping
            directory.remove()
        raise
    log.close()
    writes_tuned = result.converged or args.allow_unconverged
    if writes_tuned:
        tuned = experiment.to_json()
        tuned["trainer"].update(zip(tuned_keys, chosen))
        write_text(directory.path / TUNED_FILE, yaml.safe_dump(tuned, sort_keys=False))
    summary = {
        "name": experiment.name,
        "directory": str(directory.path),
        "status": "complete" if result.converged else "unconverged",
        "kind": KIND,  # a finished tune-lr search: nothing to resume
        "objectives": list(experiment.objectives),
        "directions": list(experiment.directions),
        "trials": count,
        "complete": count,
        "pruned": 0,
        "failed": 0,
        "duration_s": round(time.monotonic() - started, 3),
        "best": None,  # short trials are scored by their rank, not the experiment's objectives
        "arch": arch_json,
        "converged": result.converged,
        "exit": result.exit,
        **dict(zip(tuned_keys, (float(value) for value in chosen))),
        **outcome,
        "rank_left_out": left_out,
        "tuned": str(directory.path / TUNED_FILE) if writes_tuned else None,
        "record": str(directory.path / record),
    }
    directory.write_summary(summary)
    found = " and ".join(f"{LABELS[key]} {value:.6g}" for key, value in zip(tuned_keys, chosen))
    if left_out:
        names = ", ".join(left_out)
        print(f"hbk: note: left out of the rank (one channel never leaves noise): {names}", file=sys.stderr)
    if not result.converged:
        print(f"hbk: warning: autoHyper did not converge: {REASONS[result.exit]} ({result.exit})", file=sys.stderr)
    print(f"{found} after {count} short trials{'' if result.converged else ' (not converged)'}")
    if writes_tuned:
        tuned_file = directory.path / TUNED_FILE
        print(f"wrote {directory.path / record} and {tuned_file} (hbk run {tuned_file})")
        return 0
    print(f"wrote {directory.path / record}; no {TUNED_FILE} (--allow-unconverged writes it)")
    return UNCONVERGED_EXIT


#: why a search stopped short of the reference's rules, by exit rule
REASONS = {
    "exit-budget": "--max-trials short trials were spent before the rules settled",
    "exit-ceiling": "the rank stayed at noise up to the highest rate allowed (the network learns at no rate, "
    "or diverges first)",
    "exit-oscillation": "the rank falls from noise to under 0.5 within a factor of 5 of the rate, so the first rate "
    "goes up and down forever (try a longer --epochs, or --min-lr at that rate)",
}


def _accepts(factory, name: str) -> bool:
    """Whether ``factory`` takes the keyword argument ``name``."""
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
