"""Every example experiment runs end to end (small budgets), and runs are reproducible."""

import json
from pathlib import Path

import pytest
import yaml

from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.kernel.files import read_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = {
    "digits_random.yaml": ["budget.trials=2", "trainer.epochs=1"],
    "digits_evolution.yaml": ["budget.trials=3", "trainer.epochs=1", "mutator.population_size=2"],
    "digits_oneshot_evolution.yaml": ["budget.trials=3", "trainer.epochs=1"],
}


def _run(path, overrides, tmp_path):
    experiment = load_experiment(path, [*overrides, f"output_dir={tmp_path / 'runs'}"])
    summary = build_search(experiment, console=False, progress=False).run().to_json()
    return summary, Path(summary["directory"])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_example_runs_end_to_end(name, tmp_path):
    summary, directory = _run(EXAMPLES / name, SMALL[name], tmp_path)
    assert summary["status"] == "complete" and summary["complete"] >= 1
    best = summary["best"]
    assert {"accuracy", "test_accuracy", "params", "flops"} <= set(best["metrics"])
    assert json.loads((directory / "best_arch.json").read_text()) == best["arch"]
    assert (directory / "best_weights.pt").stat().st_size > 0


def test_best_weights_load_into_the_exported_subnet(tmp_path):
    import torch

    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.subnet import build_subnet

    _, directory = _run(EXAMPLES / "digits_random.yaml", SMALL["digits_random.yaml"], tmp_path)
    subnet = build_subnet(DigitsCNNSpace(), json.loads((directory / "best_arch.json").read_text()))
    state = torch.load(directory / "best_weights.pt", weights_only=True)
    subnet.load_state_dict(state)  # strict: same keys and shapes


def test_same_seed_same_trials_and_best(tmp_path):
    records = []
    for attempt in range(2):
        _, directory = _run(EXAMPLES / "digits_random.yaml", SMALL["digits_random.yaml"], tmp_path / str(attempt))
        records.append([(t["arch"], t["metrics"], t["state"]) for t in read_jsonl(directory / "trials.jsonl")])
    assert records[0] == records[1]


@pytest.mark.slow
def test_quick_demo_prints_the_result(hbk, tmp_path):
    result = hbk("run", "budget.trials=1", "trainer.epochs=1", f"output_dir={tmp_path}", "-q")
    assert result.returncode == 0, result.stderr
    for shown in ("test_accuracy", "params", "flops", "architecture", str(tmp_path)):
        assert shown in result.stdout
    shown = json.loads(result.stdout.split("architecture ", 1)[1].splitlines()[0])  # values, not indices
    assert shown["stem_kernel"] in (3, 5) and shown["block1_op"] in ("sep_conv_3x3", "conv_3x3", "conv_5x5")


def test_joint_nas_and_hpo_searches_architecture_and_training_together(tmp_path):
    overrides = ["budget.trials=3", "trainer.epochs=1"]
    summary, directory = _run(EXAMPLES / "digits_joint_nas_hpo.yaml", overrides, tmp_path)
    trials = read_jsonl(directory / "trials.jsonl")
    assert {"trainer.lr", "trainer.optimizer", "stem_width"} <= set(trials[0]["arch"])
    assert len({t["arch"]["trainer.lr"] for t in trials}) == 3  # each trial trains with its own lr
    best = summary["best"]
    assert best["hparams"]["trainer.optimizer"] in ("sgd", "adamw")
    assert best["hparams"]["trainer.lr"] == best["arch"]["trainer.lr"]
    assert json.loads((directory / "best_arch.json").read_text()) == best["arch"]
    # the exported weights belong to the architecture alone: hyper-parameters are not modules
    import torch

    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.subnet import build_subnet

    arch = {k: v for k, v in best["arch"].items() if not k.startswith("trainer.")}
    build_subnet(DigitsCNNSpace(), arch).load_state_dict(torch.load(directory / "best_weights.pt", weights_only=True))


def test_two_objective_search_writes_the_pareto_front(tmp_path):
    summary, _ = _run(EXAMPLES / "digits_two_objectives.yaml", ["budget.trials=4", "trainer.epochs=1"], tmp_path)
    front = summary["pareto_front"]
    assert front and all({"accuracy", "params"} <= set(t["metrics"]) for t in front)


def test_hparams_need_a_trainer_that_trains_each_trial(tmp_path):
    from hyperbox.kernel import ConfigError

    overrides = ["hparams={trainer.lr: [0.05, 0.1]}", f"output_dir={tmp_path}"]
    with pytest.raises(ConfigError, match="trains once, in its search phase"):
        build_search(load_experiment(EXAMPLES / "digits_oneshot_evolution.yaml", overrides), console=False)
    assert not any(tmp_path.iterdir())


def test_exponent_floats_and_checked_list_items_in_overrides(hbk, tmp_path):
    ran = hbk("run", "budget.trials=1", "trainer.epochs=1", "trainer.lr=1e-3", f"output_dir={tmp_path}", "-q")
    assert ran.returncode == 0, ran.stderr
    (directory,) = tmp_path.iterdir()
    assert yaml.safe_load((directory / "config.yaml").read_text())["trainer"]["lr"] == 0.001
    bad = hbk("run", "trainer.scheduler=multistep", "trainer.milestones=[1,a]", f"output_dir={tmp_path}", "-q")
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("demo.yaml: trainer.milestones[1]: expected int, got 'a'")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_budget_too_small_for_the_mutator_is_a_one_line_warning(hbk, tmp_path):
    result = hbk("run", "budget.trials=1", "trainer.epochs=1", "mutator=evolution", f"output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("hbk: warning: ")]
    assert len(warned) == 1 and "evolution: its warm-up of 20 random architectures" in warned[0]
    (directory,) = tmp_path.iterdir()
    assert "budget_warning" in (directory / "events.jsonl").read_text()


EVALUATE_WITHOUT_HYPERBOX = """
import sys
sys.modules["hyperbox"] = None  # any import of Hyperbox fails from here on
import torch
model = torch.jit.load(sys.argv[1])
images, labels = torch.load(sys.argv[2], weights_only=True)
with torch.no_grad():
    print((model(images).argmax(1) == labels).float().mean().item())
"""


@pytest.mark.slow
def test_torchscript_and_onnx_exports_run_without_hyperbox_and_score_what_the_run_reported(hbk, tmp_path):
    import subprocess
    import sys

    import torch

    from hyperbox.nas.datasets import digits

    ran = hbk("run", "budget.trials=2", "trainer.epochs=2", f"output_dir={tmp_path / 'runs'}", "-q")
    assert ran.returncode == 0, ran.stderr
    (directory,) = (tmp_path / "runs").iterdir()
    exported = hbk("export", str(directory), "--format", "torchscript", "-o", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out" / "model.pt").is_file() and not (tmp_path / "out" / "weights.pt").exists()
    test = digits().split("test")
    torch.save(test.tensors, tmp_path / "test.pt")
    script = tmp_path / "evaluate.py"
    script.write_text(EVALUATE_WITHOUT_HYPERBOX)
    scored = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out" / "model.pt"), str(tmp_path / "test.pt")],
        capture_output=True,
        text=True,
        check=True,
    )
    reported = json.loads((directory / "summary.json").read_text())["best"]["metrics"]["test_accuracy"]
    assert float(scored.stdout) == pytest.approx(reported, abs=1e-6)
    refused = hbk("export", str(directory), "--format", "torchscript")
    assert refused.returncode == 2 and "give the folder to write to with -o DIR" in refused.stderr

    # ONNX, run by onnxruntime on a batch of any size, scores the same
    onnxruntime = pytest.importorskip("onnxruntime")
    exported = hbk("export", str(directory), "--format", "onnx", "-o", str(tmp_path / "onnx"))
    assert exported.returncode == 0, exported.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    images, labels = test.tensors
    (logits,) = session.run(None, {"input": images.numpy()})
    assert float((logits.argmax(1) == labels.numpy()).mean()) == pytest.approx(reported, abs=1e-6)
