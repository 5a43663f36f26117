"""The built-in ``hbk`` verbs: run, plugins, list, show, export."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from hyperbox.kernel.errors import ConfigError, HyperboxError
from hyperbox.kernel.files import read_jsonl
from hyperbox.kernel.plugins import get_manager
from hyperbox.kernel.registry import KINDS

#: The shared storage of ``hbk run --workers N`` when the experiment names none.
WORKERS_STORAGE = "sqlite:///{run_dir}/study.db"


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hbk run", description="Run an experiment; without one, the quick demo.")
    parser.add_argument("experiment", nargs="?", help="experiment YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted overrides")
    parser.add_argument(
        "--resume", metavar="RUNDIR", help="continue a killed run, or give one more budget (budget.trials=N)"
    )
    parser.add_argument(
        "--storage", metavar="URL", help="record the trials in a new study there, which `hbk worker` can join"
    )
    parser.add_argument("--study", metavar="NAME", help="the study's name in the storage (default: NAME-TIMESTAMP)")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"run the trials in N local worker processes (default storage: {WORKERS_STORAGE})",
    )
    parser.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes of this machine with torch.distributed (started by torchrun)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only the summary: no log lines, no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each trial's start and each epoch too")
    args = parser.parse_intermixed_args(argv)  # options may come between overrides
    import attrs

    from hyperbox.kernel.compose import build_search, resume_search
    from hyperbox.kernel.config import load_experiment
    from hyperbox.kernel.launch import distributed_rank, launch

    if args.experiment and "=" in args.experiment and not Path(args.experiment).exists():
        args.overrides.insert(0, args.experiment)
        args.experiment = None
    console = 0 if args.quiet else 2 if args.verbose else 1
    _quiet_logging(args.quiet)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    if args.nproc is not None and args.nproc < 1:
        raise ConfigError(f"--nproc {args.nproc}: expected at least 1")
    rank = distributed_rank()
    if args.nproc and args.nproc > 1 and rank is None:
        _check_distributed(args, args.nproc)
        return launch(args.nproc, _without_nproc(argv))
    if rank is not None and rank > 0:
        _follow(args)
        return 0
    if args.resume:
        if args.experiment:
            args.overrides.insert(0, args.experiment)  # with --resume, the positional arguments are overrides
        if args.storage or args.workers or args.study:
            raise ConfigError("--resume takes the run directory and budget overrides (its config.yaml is reused)")
        search = resume_search(args.resume, args.overrides, console=console, progress=None if console else False)
    else:
        if args.experiment:
            experiment = load_experiment(args.experiment, args.overrides)
        else:
            with resources.as_file(resources.files("hyperbox.kernel") / "demo.yaml") as demo:
                experiment = load_experiment(demo, args.overrides)
        if args.storage:
            experiment = attrs.evolve(experiment, storage=args.storage)
        elif args.workers and experiment.storage is None:
            experiment = attrs.evolve(experiment, storage=WORKERS_STORAGE)
        progress = None if console and not args.workers else False
        search = build_search(experiment, console=console, progress=progress, study=args.study)
    if args.workers:
        from hyperbox.kernel.workers import run_workers

        result = run_workers(search, args.workers, verbosity=console)
    else:
        result = search.run()  # a run that fails before any trial completes leaves no directory
    _print_summary(result.to_json())
    return 0


def _distributed_experiment(args: argparse.Namespace) -> Any:
    """The experiment a distributed run trains: its file (with overrides), or a resumed run's config."""
    from hyperbox.kernel.config import load_experiment, parse_experiment
    from hyperbox.kernel.rundir import CONFIG_FILE, RunDirectory

    if args.resume:
        return parse_experiment(RunDirectory.existing(args.resume).config(), str(Path(args.resume) / CONFIG_FILE))
    if not args.experiment:
        raise ConfigError("--nproc: give the experiment to train (hbk run EXPERIMENT --nproc N)")
    return load_experiment(args.experiment, args.overrides)


def _check_distributed(args: argparse.Namespace, nproc: int) -> None:
    """Refuse, before any process starts, what cannot train on ``nproc`` processes: workers or a
    shared study, searched trainer arguments, a trainer without ``follow``, and what its
    ``check_launch(device, nproc, model)`` refuses (more processes than devices, float16 on a CPU...)."""
    from hyperbox.kernel.compose import build_search

    if args.workers or args.storage or args.study:
        raise ConfigError("--nproc: one training on several processes; it cannot share a study with workers")
    experiment = _distributed_experiment(args)
    if experiment.storage is not None:
        raise ConfigError(
            f"{experiment.source}: storage: one training on several processes (--nproc); it cannot share a study"
        )
    if experiment.hparams:
        raise ConfigError(f"{experiment.source}: hparams: searched trainer arguments cannot train on several processes")
    search = build_search(experiment, console=False, in_memory=True)  # never started: nothing written
    try:
        trainer = getattr(search.evaluation, "trainer", None)
        if getattr(trainer, "follow", None) is None:
            raise ConfigError(
                f"{experiment.source}: trainer {experiment.trainer.name!r} cannot train on several processes (--nproc)"
            )
        check = getattr(trainer, "check_launch", None)
        if check is not None:
            check(experiment.device, nproc, search.model)
    finally:
        search.close()


def _follow(args: argparse.Namespace) -> None:
    """A rank other than 0: train what rank 0's search trains, writing nothing."""
    from hyperbox.kernel.compose import build_search

    build_search(_distributed_experiment(args), console=False, in_memory=True).follow()


def _without_nproc(argv: list[str]) -> list[str]:
    """``hbk run``'s arguments less ``--nproc N`` (the processes torchrun starts run them)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def _quiet_logging(quiet: bool) -> None:
    """``-q`` leaves only the summary: the warnings a search without a console logs are dropped too."""
    if quiet:
        logging.getLogger("hyperbox").setLevel(logging.ERROR)


def worker_command(argv: list[str]) -> int:
    from hyperbox.kernel.workers import STORAGE_ENV

    parser = argparse.ArgumentParser(
        prog="hbk worker",
        description="Join a study created by `hbk run --storage URL` and run its trials until the budget is spent.",
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        default=os.environ.get(STORAGE_ENV),
        help=f"the study's storage (default: ${STORAGE_ENV})",
    )
    parser.add_argument("--study", metavar="NAME", help="the study to join (default: the storage's only study)")
    parser.add_argument(
        "--run-dir", metavar="DIR", help="the run directory to share (default: a run directory of its own)"
    )
    parser.add_argument(
        "--index",
        type=int,
        metavar="K",
        help="this worker's index: its mutator is seeded with seed + K (default: a random index)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no log lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each trial's start and each epoch too")
    args = parser.parse_args(argv)
    _quiet_logging(args.quiet)
    import random

    from hyperbox.kernel.compose import build_search
    from hyperbox.kernel.config import parse_experiment
    from hyperbox.kernel.engine import storage_factory
    from hyperbox.kernel.rundir import RunDirectory

    if not args.storage:
        raise ConfigError(f"hbk worker: give the study's storage with --storage URL (or ${STORAGE_ENV})")
    directory = None if args.run_dir is None else RunDirectory.existing(args.run_dir, shared=True)
    manager = get_manager()
    ledger = storage_factory(manager.registry, args.storage, "hbk worker")(args.storage, study=args.study)
    try:
        where = f"study {args.study or '(the only one)'}"
        if ledger.experiment.get("created_from") == "python":
            raise ConfigError(
                f"{where} was created from Python; join it from Python: "
                "Search(..., storage=URL, study=NAME, load_if_exists=True)"
            )
        experiment = parse_experiment(ledger.experiment, where)
        index = args.index if args.index is not None else random.SystemRandom().randrange(1, 2**31)
        search = build_search(
            experiment,
            manager=manager,
            ledger=ledger,
            directory=directory,
            worker=index,
            console=0 if args.quiet else 2 if args.verbose else 1,
            progress=False,
        )
    except BaseException:
        ledger.close()
        raise
    result = search.run()
    if directory is None:
        _print_summary(result.to_json())
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from hyperbox.kernel.events import shown

    console = Console(emoji=False)
    best = summary["best"]
    console.print(f"[bold]run[/bold] {summary['directory']}  ({summary['complete']} trials complete)")
    if best is None:
        console.print("no trial completed")
        return
    table = Table(title=f"best trial #{best['number']}", show_header=False)
    for key, value in best["metrics"].items():
        table.add_row(key, shown(value))
    console.print(table)
    console.print("architecture " + json.dumps(best.get("values") or best["arch"]), soft_wrap=True)
    if "hparams" in best:
        console.print("hyper-parameters " + json.dumps(best["hparams"]))
    front = summary.get("pareto_front")
    if front:
        names = summary["objectives"]
        console.print(f"Pareto front ({len(front)} trials):")
        for member in front:
            values = ", ".join(f"{name}={shown(member['metrics'][name])}" for name in names)
            console.print(f"  #{member['number']}: {values}")


def plugins_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hbk plugins", description="List installed plugins.")
    parser.add_argument("--all", action="store_true", help="include the kernel's internal plugin")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    infos = get_manager().infos(include_internal=args.all)
    if args.json:
        print(json.dumps([info.to_json() for info in infos], indent=2))
        return 0
    for info in infos:
        dist = f"{info.distribution} {info.version}" if info.distribution else "(internal)"
        print(f"{info.name:<12} {dist:<36} {info.status}")
        if info.error:
            print(f"    error: {info.error}")
        for kind, names in info.registers.items():
            print(f"    {kind}: {', '.join(names)}")
    return 0


def list_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hbk list", description="List registered components.")
    parser.add_argument("kind", nargs="?", choices=[k for k in KINDS if k != "commands"])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    registry = get_manager().registry
    kinds = [args.kind] if args.kind else [k for k in KINDS if k != "commands"]
    listing = {
        kind: [{"name": c.name, "plugin": c.plugin, "help": c.summary} for c in registry.components(kind)]
        for kind in kinds
    }
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for kind, components in listing.items():
        print(f"{kind}:")
        for c in components:
            print(f"  {c['name']:<16} [{c['plugin']}] {c['help']}")
    return 0


def _load_run(directory: str) -> tuple[Path, dict[str, Any] | None, list[dict]]:
    path = Path(directory)
    if not (path / "config.yaml").is_file():
        raise HyperboxError(f"{directory}: not a run directory (no config.yaml)")
    summary_file = path / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else None
    return path, summary, read_jsonl(path / "trials.jsonl")


def show_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hbk show",
        description="Show a run's trials (values and metrics, as many columns as the terminal holds) and best result.",
    )
    parser.add_argument("rundir")
    parser.add_argument("--json", action="store_true", help="print the summary and the trials as JSON")
    parser.add_argument("--plot", action="store_true", help="write history.png (and pareto_front.png) into the run")
    parser.add_argument("--columns", metavar="A,B", help="the columns to show, by name (default: what fits)")
    args = parser.parse_args(argv)
    path, summary, trials = _load_run(args.rundir)
    if args.plot:
        _plot(path, trials)
    if args.json:
        print(json.dumps({"summary": summary, "trials": trials}, indent=2))
        return 0
    from rich.console import Console

    from hyperbox.kernel.config import objectives_of, yaml_load
    from hyperbox.kernel.show import TrialTable, best_lines
    from hyperbox.kernel.trial import TrialRecord

    config = yaml_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    objectives, directions = objectives_of(config.get("objective"), config.get("direction"), str(path))
    table = TrialTable([TrialRecord.from_json(t) for t in trials], objectives, directions)
    console = Console(emoji=False)
    asked = None if args.columns is None else [c.strip() for c in args.columns.split(",") if c.strip()]
    columns, left = table.choose(console.width, asked)
    console.print(table.render(columns, str(path)))
    if left and asked is None:
        console.print(f"{len(left)} more columns: {', '.join(left)} (choose with --columns)", soft_wrap=True)
    front = sorted(table.front) if table.several else []
    for line in best_lines((summary or {}).get("best"), front):
        console.print(line, soft_wrap=True, markup=False)
    if summary is None:
        console.print("(run not finished: no summary.json yet; resume it with hbk run --resume)")
    return 0


def _plot(path: Path, trials: list[dict]) -> None:
    """Plots from the trials so far (an unfinished run too); objectives come from config.yaml."""
    from hyperbox.kernel import plots
    from hyperbox.kernel.config import objectives_of, yaml_load

    data = yaml_load((path / "config.yaml").read_text(encoding="utf-8"))
    data = data if isinstance(data, dict) else {}
    objectives, directions = objectives_of(data.get("objective"), data.get("direction"), str(path / "config.yaml"))
    written = [plots.plot_history(trials, objectives[0], directions[0], path / "history.png")]
    if len(objectives) > 1:
        written.append(plots.plot_pareto_front(trials, objectives, directions, path / "pareto_front.png"))
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)  # stdout may carry --json


#: What ``hbk export --format`` writes: the state dict, or a model that runs without Hyperbox.
EXPORT_FORMATS = {"state_dict": "weights.pt", "torchscript": "model.pt", "onnx": "model.onnx"}


def export_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hbk export",
        description="Print the best architecture; with -o, write it, its values and its model to a folder.",
    )
    parser.add_argument("rundir")
    parser.add_argument("-o", "--output", metavar="DIR", help="write arch.json, values.json and the model here")
    parser.add_argument(
        "--trial", type=int, metavar="N", help="export trial N instead of the best (its weights kept with keep: K)"
    )
    parser.add_argument(
        "--format",
        choices=list(EXPORT_FORMATS),
        default="state_dict",
        help="state_dict: the trained weights (weights.pt); torchscript (model.pt) or onnx (model.onnx): a model "
        "that runs with plain PyTorch or onnxruntime, without Hyperbox",
    )
    args = parser.parse_args(argv)
    from hyperbox.kernel.rundir import RunDirectory

    run = RunDirectory.existing(args.rundir)
    summary = run.summary()
    best = summary.get("best") or run.best_so_far()  # an unfinished run: the best recorded so far
    if args.trial is not None:
        record = next((t for t in run.trials() if t.number == args.trial and t.state == "complete"), None)
        if record is None:
            raise HyperboxError(f"{args.rundir}: no completed trial {args.trial} to export")
        # the decisions that matter: those its values show (a record keeps every proposed one)
        arch = {key: value for key, value in record.arch.items() if key in record.values} or record.arch
        best = {"number": record.number, "arch": arch, "values": record.values}
    if best is None:
        raise HyperboxError(f"{args.rundir}: no completed trial to export")
    if not args.output:
        if args.format != "state_dict":
            raise ConfigError(f"--format {args.format}: give the folder to write to with -o DIR")
        print(json.dumps(best["arch"], indent=2))
        return 0
    weights = run.weights_of(best["number"])
    elsewhere = summary.get("best_weights") if args.trial is None else None
    if weights is None and elsewhere:  # the best trial ran on another worker, whose files were out of reach
        raise HyperboxError(
            f"{args.rundir}: the weights of the best trial, {best['number']}, are in {elsewhere}; "
            "copy that file here as best_weights.pt, or export there"
        )
    if weights is None and args.trial is not None and (run.path / "best_weights.pt").is_file():
        raise HyperboxError(f"{args.rundir}: trial {args.trial}'s weights were not kept (keep: K keeps the K best)")
    model_files: list[Path] = []
    if args.format != "state_dict" and weights is None:
        raise HyperboxError(f"{args.rundir}: no trained weights of trial {best['number']} to export")
    if weights is not None:
        model_files = _export_model(run, best["arch"], weights, args.format, Path(args.output))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arch.json").write_text(json.dumps(best["arch"], indent=2) + "\n", encoding="utf-8")
    (out / "values.json").write_text(json.dumps(best.get("values", {}), indent=2) + "\n", encoding="utf-8")
    written = [out / "arch.json", out / "values.json", *model_files]
    if weights is not None and not model_files:  # a plain network, or a space given as a Python object
        shutil.copyfile(weights, out / EXPORT_FORMATS["state_dict"])
        written.append(out / EXPORT_FORMATS["state_dict"])
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _export_model(run: Any, arch: dict[str, Any], weights: Path, kind: str, out: Path) -> list[Path]:
    """The run's best model, rebuilt from its recorded space and data shape (not its dataset or
    trainer) with its trained weights, written as ``kind`` after the parts a plugin writes itself
    (an augmentation policy); returns the files, none when the weights file is to be copied as it is."""
    from hyperbox.kernel.components import Resolver
    from hyperbox.kernel.files import load_state_dict, save_state_dict
    from hyperbox.kernel.space import SearchSpace

    config = run.config()
    recorded = config.get("space")
    if _python_object_in(recorded):  # a model given from Python: only that script can rebuild it
        if kind == "state_dict":
            print(
                f"hbk export: {run.path}: its space was a Python object, so weights.pt is the run's weights file as "
                "it is (parts such as an augmentation policy are saved from Python: model.augmentation.save(...))",
                file=sys.stderr,
            )
            return []
        raise ConfigError(f"{run.path}: its space was a Python object; export its model there (result.best_model())")
    manager = get_manager()
    shape = dict(config.get("data_shape") or {})
    space = Resolver(lambda: manager.registry).space(recorded, shape, f"{run.path / 'config.yaml'}: space")
    searched = SearchSpace.of(space)
    arch = {key: value for key, value in arch.items() if key in searched}  # not the trainer's hparams
    model = manager.hook.hyperbox_build_subnet(model=space, arch=arch)
    input_shape = shape.get("input_shape")
    if kind == "state_dict" and not hasattr(model, "load_state_dict"):
        return []  # a model no plugin builds as a torch module: its weights are copied as they are
    if model is None or (input_shape is None and kind != "state_dict"):
        raise HyperboxError(f"{run.path}: no plugin builds this space's model with a known input shape")
    model.load_state_dict(load_state_dict(weights))
    out.mkdir(parents=True, exist_ok=True)
    parts = manager.hook.hyperbox_export_parts(space=space, subnet=model, arch=arch, directory=out)
    path = out / EXPORT_FORMATS[kind]
    if kind == "state_dict":
        if parts is None:
            return []  # the network alone: its weights file is copied as it is
        network, written = parts
        save_state_dict(path, network.state_dict())
        return [*written, path]
    model, written = parts if parts is not None else (model, [])
    try:
        exported = manager.hook.hyperbox_export_model(
            model=model, input_shape=tuple(input_shape), format=kind, path=path
        )
    except ValueError as error:
        raise ConfigError(f"--format {kind}: {error}") from None
    if exported is None:
        raise HyperboxError(f"--format {kind}: no plugin exports {type(model).__name__} models")
    return [*written, Path(exported)]


def _python_object_in(value: Any) -> bool:
    """Whether a recorded component holds a Python object (recorded by its ``python:`` label)."""
    if isinstance(value, str):
        return value.startswith("python:")
    if isinstance(value, dict):
        return any(_python_object_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_python_object_in(v) for v in value)
    return False
