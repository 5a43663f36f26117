import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from hyperbox.kernel.files import read_jsonl

HEAVY = ("torch", "optuna", "kornia", "numpy")


def toy_experiment(tmp_path, runs=False, **changes):
    """An experiment file of the toy plugin's components (output in ``tmp_path/runs`` if ``runs``)."""
    data = {
        "dataset": "toy_data",
        "space": "toy_space",
        "mutator": "toy_random",
        "trainer": "toy_trainer",
        "estimators": ["toy_score"],
        **changes,
    }
    if runs:
        data["output_dir"] = str(tmp_path / "runs")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _imported_modules(*args, site=None):
    """The heavy modules that ``hbk ARGS`` imports (checked in a fresh interpreter)."""
    code = (
        "import sys, contextlib, io\n"
        "from hyperbox.kernel.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main({list(args)!r})\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {"PYTHONPATH": str(site)} if site else {}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"], ["list"]])
def test_listing_imports_no_heavy_module(args):
    assert _imported_modules(*args) == "[]"


def test_plugins_json_lists_the_first_party_plugins(hbk):
    result = hbk("plugins", "--json")
    assert result.returncode == 0, result.stderr
    names = {p["name"]: p for p in json.loads(result.stdout)}
    assert {"nas", "networks", "hpo", "ada"} <= set(names)
    assert names["nas"]["distribution"] == "hyperbox-plugin-nas"
    everything = json.loads(hbk("plugins", "--all", "--json").stdout)
    assert any(p["name"] == "kernel" and p["internal"] for p in everything)


def test_block_list_keeps_a_plugin_unimported(hbk):
    code = (
        "import sys; from hyperbox.kernel.cli import main; main(['-p', 'no:ada', 'plugins']); "
        "print('IMPORTED' if any(m.startswith('hyperbox.ada') for m in sys.modules) else 'CLEAN')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().endswith("CLEAN")
    assert "disabled" in result.stdout


def test_every_verb_works_with_a_broken_plugin_installed(toy_site, tmp_path, hbk):
    site = toy_site("toy", "broken")
    listed = hbk("plugins", "--json", site=site)
    assert listed.returncode == 0
    broken = next(p for p in json.loads(listed.stdout) if p["name"] == "broken")
    assert broken["status"] == "broken" and "broken on purpose" in broken["error"]
    assert "plugin 'broken' failed to load" in listed.stderr
    experiment = toy_experiment(tmp_path, budget={"trials": 2}, runs=True)
    assert hbk("run", str(experiment), "-q", site=site).returncode == 0
    (run,) = (tmp_path / "runs").iterdir()
    for args in (["list"], ["show", str(run)], ["export", str(run)], ["--version"], ["--help"]):
        result = hbk(*args, site=site)
        assert result.returncode == 0, (args, result.stderr)
    assert hbk("--strict-plugins", "list", site=site).returncode != 0


def test_show_and_export(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    experiment = toy_experiment(tmp_path, budget={"trials": 3}, runs=True)
    ran = hbk("run", str(experiment), site=site)
    assert ran.returncode == 0, ran.stderr
    assert "best trial" in ran.stdout
    trial_lines = [line for line in ran.stderr.splitlines() if " trial " in line and " complete " in line]
    assert len(trial_lines) == 3 and all("op=" in line and "accuracy=" in line for line in trial_lines)
    assert "epoch" not in ran.stderr  # epochs at -v only
    (run,) = (tmp_path / "runs").iterdir()
    shown = hbk("show", str(run), site=site)
    assert shown.returncode == 0 and "complete" in shown.stdout and "best: trial " in shown.stdout
    exported = hbk("export", str(run), site=site)
    best = json.loads((run / "summary.json").read_text())["best"]
    assert json.loads(exported.stdout) == best["arch"]
    out = hbk("export", str(run), "-o", str(tmp_path / "out"), site=site)
    assert out.returncode == 0 and json.loads((tmp_path / "out" / "arch.json").read_text()) == best["arch"]
    assert json.loads((tmp_path / "out" / "values.json").read_text()) == best["values"]


def test_plugin_command_and_version(toy_site, hbk):
    site = toy_site("toy")
    result = hbk("toy", "a", "b", site=site)
    assert result.returncode == 0 and "toy command a b" in result.stdout
    version = hbk("--version", site=site)
    assert "hyperbox-kernel 0.1.0" in version.stdout and "hyperbox-plugin-toy 1.0" in version.stdout


def test_show_plot_writes_history_and_pareto_front(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    experiment = toy_experiment(
        tmp_path, objective=["accuracy", "cost"], direction=["maximize", "minimize"], budget={"trials": 6}, runs=True
    )
    assert hbk("run", str(experiment), "-q", site=site).returncode == 0
    (run,) = (tmp_path / "runs").iterdir()
    result = hbk("show", str(run), "--plot", site=site)
    assert result.returncode == 0, result.stderr
    for name in ("history.png", "pareto_front.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_options_may_come_between_the_file_and_the_overrides(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    experiment = toy_experiment(tmp_path, budget={"trials": 5})
    result = hbk("run", str(experiment), "-q", "budget.trials=2", f"output_dir={tmp_path / 'runs'}", site=site)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "summary.json").read_text())["trials"] == 2


def test_show_plot_works_on_an_unfinished_run_and_keeps_json_clean(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    experiment = toy_experiment(tmp_path, budget={"trials": 3}, runs=True)
    assert hbk("run", str(experiment), "-q", site=site).returncode == 0
    (run,) = (tmp_path / "runs").iterdir()
    (run / "summary.json").unlink()  # as if the run had been killed
    result = hbk("show", str(run), "--json", "--plot", site=site)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"] is None and len(json.loads(result.stdout)["trials"]) == 3
    assert (run / "history.png").is_file() and "wrote" in result.stderr


def test_a_run_goes_on_past_failing_trials_and_stops_when_they_fail_in_a_row(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(tmp_path, runs=True, trainer={"name": "toy_trainer", "fail_every": 3}, budget={"trials": 6})
    result = hbk("run", str(path), "-q", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (directory,) = (tmp_path / "runs").iterdir()
    states = [t["state"] for t in read_jsonl(directory / "trials.jsonl")]
    assert states == ["complete", "complete", "failed"] * 2
    broken = toy_experiment(tmp_path, runs=True, trainer={"name": "toy_trainer", "fail_every": 1}, budget={"trials": 9})
    result = hbk("run", str(broken), "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("hbk: error: 5 trials failed in a row; the last, 4:")
    assert "RuntimeError: toy failure in trial 4" in result.stderr and "Traceback" not in result.stderr


def test_sigterm_stops_a_run_so_that_it_resumes(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(
        tmp_path, runs=True, trainer={"name": "toy_trainer", "sleep_at": 1, "sleep": 60}, budget={"trials": 5}
    )
    marker = tmp_path / "sleeping"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBK_")}
    env.update(PYTHONPATH=str(site), TOY_SLEEP_MARKER=str(marker))
    process = subprocess.Popen(
        [sys.executable, "-m", "hyperbox.kernel.cli", "run", str(path), "-q"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in stderr
    (directory,) = (tmp_path / "runs").iterdir()
    assert json.loads((directory / "summary.json").read_text())["status"] == "interrupted"
    result = hbk("run", "--resume", str(directory), "-q", site=site, cwd=tmp_path, env={"TOY_NO_SLEEP": "1"})
    assert result.returncode == 0, result.stderr
    assert [t["number"] for t in read_jsonl(directory / "trials.jsonl")] == [0, 1, 2, 3, 4]


def test_a_closed_pipe_ends_hbk_quietly(toy_site, tmp_path):
    site = toy_site("toy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBK_")}
    env["PYTHONPATH"] = str(site)
    command = f"{sys.executable} -m hyperbox.kernel.cli list --json | head -c 10"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.stderr == "" and len(result.stdout) == 10


def test_a_finished_run_is_given_more_trials_by_resuming_it_with_a_budget(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(tmp_path, runs=True, budget={"trials": 3})
    assert hbk("run", str(path), "-q", site=site, cwd=tmp_path).returncode == 0
    (directory,) = (tmp_path / "runs").iterdir()
    refused = hbk("run", "--resume", str(directory), "trainer.epochs=3", site=site, cwd=tmp_path)
    assert refused.returncode == 2 and "only budget.trials and budget.seconds may change" in refused.stderr
    grown = hbk("run", "--resume", str(directory), "budget.trials=5", "-q", site=site, cwd=tmp_path)
    assert grown.returncode == 0, grown.stderr
    trials = read_jsonl(directory / "trials.jsonl")
    assert [t["number"] for t in trials] == [0, 1, 2, 3, 4]
    assert json.loads((directory / "summary.json").read_text())["trials"] == 5
    assert yaml.safe_load((directory / "config.yaml").read_text())["budget"]["trials"] == 5
    straight = toy_experiment(tmp_path, budget={"trials": 5}, output_dir=str(tmp_path / "straight"))
    assert hbk("run", str(straight), "-q", site=site, cwd=tmp_path).returncode == 0
    (other,) = (tmp_path / "straight").iterdir()
    assert [t["arch"] for t in read_jsonl(other / "trials.jsonl")] == [t["arch"] for t in trials]


def test_the_console_shows_a_line_per_trial_epochs_with_v_and_nothing_with_q(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(tmp_path, budget={"trials": 2}, runs=True, trainer={"name": "toy_trainer", "epochs": 2})
    verbose = hbk("run", str(path), "-v", site=site)
    assert verbose.returncode == 0, verbose.stderr
    assert len([line for line in verbose.stderr.splitlines() if " epoch " in line]) == 4
    assert "trial 1 started: op=" in verbose.stderr
    quiet = hbk("run", str(path), "-q", site=site)
    assert quiet.returncode == 0 and quiet.stderr == "" and "best trial" in quiet.stdout


def test_show_fits_the_terminal_without_cutting_a_number(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(
        tmp_path, budget={"trials": 4}, runs=True, objective=["accuracy", "cost"], direction=["maximize", "minimize"]
    )
    assert hbk("run", str(path), "-q", site=site).returncode == 0
    (run,) = (tmp_path / "runs").iterdir()
    trials = read_jsonl(run / "trials.jsonl")
    for width in (40, 80, 200):
        shown = hbk("show", str(run), site=site, env={"COLUMNS": str(width)})
        assert shown.returncode == 0, shown.stderr
        table = [line for line in shown.stdout.splitlines() if line.startswith(("│", "┃"))]
        assert table and all(len(line) <= width for line in table)
        assert "…" not in shown.stdout  # columns that do not fit are left out whole, never cut
        rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in table if line.startswith("│")]
        assert [int(row[0]) for row in rows] == [t["number"] for t in trials]
        for row, trial in zip(rows, trials):
            assert row[2] in ("*", "") and float(row[3]) == pytest.approx(trial["metrics"]["accuracy"], rel=1e-3)
    wide = hbk("show", str(run), site=site, env={"COLUMNS": "200"})
    assert "depth" in wide.stdout and "Pareto front: trial" in wide.stdout and "front" in wide.stdout
    narrow = hbk("show", str(run), site=site, env={"COLUMNS": "40"})
    assert "more columns:" in narrow.stdout and "(choose with --columns)" in narrow.stdout
    chosen = hbk("show", str(run), "--columns", "cost,op", site=site, env={"COLUMNS": "200"})
    header = next(line for line in chosen.stdout.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["#", "state", "front", "cost", "op"]
    unknown = hbk("show", str(run), "--columns", "speed", site=site)
    assert unknown.returncode == 2 and "--columns: no column 'speed'; the run has accuracy, cost" in unknown.stderr


def test_keep_keeps_the_best_trials_weights_and_export_takes_any_of_them(toy_site, tmp_path, hbk):
    import torch

    site = toy_site("toy")
    trainer = {"name": "toy_trainer", "weights": True}
    path = toy_experiment(tmp_path, budget={"trials": 6}, runs=True, trainer=trainer, keep=2)
    assert hbk("run", str(path), "-q", site=site).returncode == 0
    (run,) = (tmp_path / "runs").iterdir()
    trials = [t for t in read_jsonl(run / "trials.jsonl") if t["state"] == "complete"]
    ranked = sorted(trials, key=lambda t: (-t["metrics"]["accuracy"], t["number"]))
    assert sorted(p.name for p in (run / "weights").iterdir()) == sorted(f"trial-{t['number']}.pt" for t in ranked[:2])
    second = ranked[1]["number"]
    out = tmp_path / "second"
    exported = hbk("export", str(run), "--trial", str(second), "-o", str(out), site=site)
    assert exported.returncode == 0, exported.stderr
    assert torch.load(out / "weights.pt", weights_only=True) == {"trained_by": second}
    assert json.loads((out / "arch.json").read_text()) == ranked[1]["arch"]
    dropped = ranked[-1]["number"]
    refused = hbk("export", str(run), "--trial", str(dropped), "-o", str(tmp_path / "x"), site=site)
    assert refused.returncode == 2 and f"trial {dropped}'s weights were not kept" in refused.stderr


def test_with_several_objectives_the_pareto_fronts_weights_are_kept(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    trainer = {"name": "toy_trainer", "weights": True}
    path = toy_experiment(
        tmp_path,
        budget={"trials": 8},
        runs=True,
        trainer=trainer,
        objective=["accuracy", "cost"],
        direction=["maximize", "minimize"],
    )
    assert hbk("run", str(path), "-q", site=site).returncode == 0
    (run,) = (tmp_path / "runs").iterdir()
    front = json.loads((run / "summary.json").read_text())["pareto_front"]
    assert sorted(p.name for p in (run / "weights").iterdir()) == sorted(f"trial-{t['number']}.pt" for t in front)


def test_a_broken_setup_keeps_its_tracebacks(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(tmp_path, runs=True, trainer={"name": "toy_trainer", "fail_every": 1}, budget={"trials": 9})
    result = hbk("run", str(path), "-q", site=site, cwd=tmp_path)
    assert result.returncode == 2
    (directory,) = (tmp_path / "runs").iterdir()  # kept: its log says what went wrong
    errors = [e for e in read_jsonl(directory / "events.jsonl") if e["event"] == "trial_error"]
    assert len(errors) == 5 and "RuntimeError: toy failure in trial 0" in errors[0]["traceback"]


def test_resuming_with_no_more_trials_than_recorded_is_refused(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(tmp_path, budget={"trials": 3}, runs=True)
    assert hbk("run", str(path), "-q", site=site, cwd=tmp_path).returncode == 0
    (directory,) = (tmp_path / "runs").iterdir()
    refused = hbk("run", "--resume", str(directory), "budget.trials=3", site=site, cwd=tmp_path)
    assert refused.returncode == 2 and "budget.trials=3: the run has 3 trials already" in refused.stderr


def test_an_unfinished_run_exports_its_best_so_far(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = toy_experiment(tmp_path, budget={"trials": 3}, runs=True)
    assert hbk("run", str(path), "-q", site=site, cwd=tmp_path).returncode == 0
    (directory,) = (tmp_path / "runs").iterdir()
    best = json.loads((directory / "summary.json").read_text())["best"]
    (directory / "summary.json").unlink()  # as a killed run leaves it
    exported = hbk("export", str(directory), site=site)
    assert exported.returncode == 0 and json.loads(exported.stdout) == best["arch"]
