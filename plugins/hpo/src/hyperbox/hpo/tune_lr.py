"""``hbk tune-lr EXPERIMENT``: autoHyper's initial learning rate for an experiment's trainer."""

from __future__ import annotations

import argparse

import yaml

from hyperbox.kernel import ConfigError, load_arch
from hyperbox.kernel.config import check_arguments, load_experiment
from hyperbox.kernel.files import write_text
from hyperbox.kernel.ledger import Trial
from hyperbox.kernel.runner import Context, Run, trial_seed

TUNED_FILE = "tuned.yaml"


def tune_lr_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hbk tune-lr",
        description="autoHyper: pick the initial learning rate of an experiment's trainer from short "
        "trials of one architecture; writes lrrt.csv and tuned.yaml (the experiment with that rate) "
        "into a new run directory.",
    )
    parser.add_argument("experiment", help="experiment YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted overrides")
    parser.add_argument("--arch", help="architecture JSON to train (default: the mutator's first proposal)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each short trial (default 5)")
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--max-lr", type=float, default=0.1)
    parser.add_argument("--num-split", type=int, default=20, help="points of the log grid per scan")
    parser.add_argument("--max-trials", type=int, default=60, help="short trials at most")
    parser.add_argument("-q", "--quiet", action="store_true", help="no console log")
    args = parser.parse_args(argv)
    from hyperbox.hpo.autohyper import tune_lr

    experiment = load_experiment(args.experiment, args.overrides)
    if "trainer.lr" in experiment.hparams:
        raise ConfigError(f"{experiment.source}: hparams searches trainer.lr; tune-lr picks one rate instead")
    run = Run(experiment, console=not args.quiet, progress=False)
    trainer_factory = run.registry.get("trainers", experiment.trainer.name).load()
    check_arguments(trainer_factory, {"lr": 0.1, "epochs": 1}, f"{experiment.source}: trainer", names_only=True)
    try:
        arch = run.mutator.apply(load_arch(args.arch)) if args.arch else run.mutator.reset()
    except ValueError as error:
        raise ConfigError(str(error)) from None
    arch_json = run.mutator.space.to_json(arch)
    count = 0

    def short_trial(lr: float):
        nonlocal count
        trial = Trial(number=count, arch=arch_json, seed=trial_seed(experiment.seed, 0))
        count += 1
        run.log.info("lr_trial", number=trial.number, lr=lr)
        trainer = run.trainer_with({"lr": lr, "epochs": args.epochs})
        return trainer.trial(run.model, arch, run.data, Context(run, trial))

    try:
        lr = tune_lr(
            short_trial, run.directory, min_lr=args.min_lr, max_lr=args.max_lr,
            num_split=args.num_split, max_trials=args.max_trials,
        )
    finally:
        run.log.close()
    tuned = experiment.to_json()
    tuned["trainer"]["lr"] = lr
    write_text(run.directory / TUNED_FILE, yaml.safe_dump(tuned, sort_keys=False))
    print(f"learning rate {lr:.6g} after {count} short trials")
    print(f"wrote {run.directory / 'lrrt.csv'} and {run.directory / TUNED_FILE} (hbk run {run.directory / TUNED_FILE})")
    return 0
