"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_concepts_example_runs(capsys):
    block = next(b for b in python_blocks() if "build_subnet" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert "[torch.Size([32, 3, 5, 5])]" in capsys.readouterr().out
    assert set(namespace["arch"]) == {"conv_op"}
    assert not any(hasattr(m, "domain") for m in namespace["subnet"].modules())


def test_write_a_plugin_code_matches_the_example_package():
    example = README.parent / "examples" / "hyperbox-plugin-hillclimb" / "src" / "hyperbox_hillclimb"
    shipped = (example / "plugin.py").read_text()
    block = next(b for b in python_blocks() if "hyperbox_register_mutators" in b)
    assert block.strip() in shipped


def test_write_a_plugin_mutator_passes_the_conformance_suite():
    from hyperbox.kernel.testing import MutatorTestCase

    block = next(b for b in python_blocks() if "class HillClimbMutator" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    suite = type("Suite", (MutatorTestCase,), {"mutator_factory": namespace["HillClimbMutator"]})()
    tests = [name for name in dir(suite) if name.startswith("test_")]
    assert len(tests) == len([name for name in dir(MutatorTestCase) if name.startswith("test_")]) >= 10
    for name in tests:
        getattr(suite, name)()  # each raises on a broken contract


def search_from_python_block() -> str:
    return next(b for b in python_blocks() if "class TinyNet" in b)


@pytest.mark.slow
def test_search_from_python_runs_as_written_and_writes_no_file(tmp_path, monkeypatch, capsys):
    import tempfile

    work, temporary = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temporary.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    namespace: dict = {}
    exec(compile(search_from_python_block(), "README.md", "exec"), namespace)
    # no directory given: nothing written, here or in temporary files (but for torch's own compile cache)
    assert list(work.iterdir()) == []
    assert [p.name for p in temporary.iterdir() if not p.name.startswith("torchinductor_")] == []
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    assert not any(hasattr(m, "domain") for m in namespace["model"].modules())  # plain PyTorch
    result = namespace["result"]  # the ask-and-tell loop's
    assert [t.number for t in result.trials] == [0, 1, 2, 3]
    assert all(t.state in ("complete", "pruned") for t in result.trials)
    assert result.best.values["middle"] in ("skip", "conv3x3", "conv5x5")


@pytest.mark.parametrize("mutator", ["random", "evolution", "optuna"])
def test_every_way_of_searching_the_readme_model_is_reproducible(mutator, tmp_path, monkeypatch):
    """The README's model and objective with each mutator: a trainer, an objective, ask and tell;
    the same seed twice gives the same trials."""
    monkeypatch.chdir(tmp_path)
    block = search_from_python_block()
    model_part, rest = block.split("# 1.")
    objective_part = rest.split("# 2.")[1].split("\n", 1)[1].split("\nresult = search(")[0]  # data, objective
    definitions = model_part + objective_part
    namespace: dict = {}
    exec(compile(definitions, "README.md", "exec"), namespace)
    from hyperbox.kernel import Search, search

    TinyNet, objective = namespace["TinyNet"], namespace["objective"]

    def with_trainer():
        trainer = {"name": "standalone", "epochs": 1}
        return search(TinyNet, mutator, trainer=trainer, estimators=["accuracy"], dataset="digits", budget=2, seed=1)

    def with_objective():
        return search(TinyNet, mutator, objective=objective, budget=2, seed=1)

    def asked_and_told():
        study = Search(TinyNet, mutator, budget=2, seed=1)
        while (trial := study.ask()) is not None:
            study.tell(trial, objective(trial))
        return study.close()

    for run in (with_trainer, with_objective, asked_and_told):
        first, second = run(), run()
        assert len(first.trials) == 2 and first.best is not None
        assert [(t.arch, t.metrics) for t in first.trials] == [(t.arch, t.metrics) for t in second.trials]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_vega_description_runs_as_written(tmp_path):
    import yaml

    from hyperbox.kernel.compose import build_search
    from hyperbox.kernel.config import load_experiment

    [block] = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
        if "FineGrainedSpace" in b
    ]
    experiment = tmp_path / "vega.yaml"
    training = {
        "dataset": "digits",
        "trainer": {"name": "standalone", "epochs": 1},
        "estimators": ["accuracy"],
        "budget": {"trials": 2},
    }
    experiment.write_text(block + yaml.safe_dump(training))
    result = build_search(load_experiment(experiment, [f"output_dir={tmp_path}"]), console=False).run()
    assert result.status == "complete" and len(result.trials) == 2
    assert set(result.best.values) == {"layer.doublechannel", "head.num_class"}
