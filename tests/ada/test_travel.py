"""A found policy is one JSON file: it rebuilds anywhere with load_policy, and hbk export writes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hyperbox.ada import AugmentationPolicy, load_policy
from hyperbox.kernel import SearchSpace
from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment
from hyperbox.nas.datasets import digits

torch.set_num_threads(1)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_augment.yaml"


def decided(**kwargs) -> AugmentationPolicy:
    policy = AugmentationPolicy(**kwargs)
    space = SearchSpace.of(policy)
    space.apply({key: 1 for key in space})
    return policy


def test_the_file_holds_the_whole_policy_and_loads_as_kornias_autoaugment(tmp_path):
    policy = decided(ops=["rotate", "invert"], n_subpolicies=2, in_channels=1)
    policy.save(tmp_path / "policy.json")
    document = json.loads((tmp_path / "policy.json").read_text())
    assert document["dims"] == 2 and document["in_channels"] == 1
    assert document["subpolicies"] == [[list(entry) for entry in sub] for sub in policy.kornia_policy()]
    loaded = load_policy(tmp_path / "policy.json")  # no policy arguments: the file is enough
    assert type(loaded).__name__ == "AutoAugment"
    images = torch.rand(4, 1, 8, 8)
    torch.manual_seed(0)
    expected = policy.train()(images)
    torch.manual_seed(0)
    assert torch.equal(loaded(images), expected)


def _write(path: Path, **changes) -> Path:
    document = {"format": "hyperbox-augmentation-policy", "version": 1, "dims": 2, "in_channels": 1}
    document["subpolicies"] = [[["rotate", 0.5, 3]]]
    document.update(changes)
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"subpolicies": [[["rotat", 0.5, 3]]]},
            r"subpolicies\[0\]\[0\]: unknown op 'rotat' \(did you mean 'rotate'\?\)",
        ),
        ({"subpolicies": [[["rotate", 1.5, 3]]]}, r"probability 1\.5 of 'rotate' must be in \[0, 1\]"),
        ({"subpolicies": [[["rotate", 0.5, 10]]]}, r"magnitude 10 of 'rotate' must be a bin in 0\.\.9"),
        ({"subpolicies": [[["color", 0.5, 3]]]}, r"op 'color' needs 3-channel images, these have 1"),
        ({"dims": 4}, r"dims=4 must be 2 or 3"),
        ({"format": "other"}, r"not a policy file"),
    ],
)
def test_a_bad_policy_file_is_a_one_line_error(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message) as raised:
        load_policy(_write(tmp_path / "bad.json", **changes))
    assert str(raised.value).startswith(str(tmp_path / "bad.json")) and "\n" not in str(raised.value)


def test_a_policy_for_other_data_is_refused(tmp_path):
    path = _write(tmp_path / "grey.json")
    with pytest.raises(ValueError, match=r"a policy for 1-channel data; these have 3 channel"):
        load_policy(path, in_channels=3)
    with pytest.raises(ValueError, match=r"a policy for 2-D data; these samples have shape \(1, 4, 8, 8\) \(3-D\)"):
        load_policy(path, input_shape=(1, 4, 8, 8))


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    """The README's augmentation section: search, export, then train with the exported policy."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- augmentation-example -->")[1].split("```bash\n")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    overrides = "budget.trials=2 trainer.epochs=1 mutator.population_size=2"
    commands = block.replace("hbk run examples/digits_augment.yaml", f"hbk run {EXAMPLE} {overrides} output_dir=runs")
    commands = commands.replace("runs/digits-augment-*", "runs/*")
    hbk = str(Path(sys.executable).parent / "hbk")
    subprocess.run(commands.replace("hbk ", f"{hbk} "), shell=True, check=True, capture_output=True)
    exported = tmp_path / "found"
    assert {p.name for p in exported.iterdir()} >= {"policy.json", "weights.pt", "arch.json"}
    weights = torch.load(exported / "weights.pt", weights_only=True)
    assert weights and all(not key.startswith("augmentation.") for key in weights)  # the network's keys only
    data = digits(seed=0).train
    torch.save((data.tensors[0], data.tensors[1]), tmp_path / "digits_train.pt")
    script = readme.split("<!-- augmentation-example -->")[1].split("```python\n")[1].split("```")[0]
    script += (
        "import sys; print(sorted({'.'.join(m.split('.')[:2]) for m in sys.modules if m.startswith('hyperbox.')}))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    shape, modules = result.stdout.strip().splitlines()[-2:]
    assert shape == "torch.Size([64, 1, 8, 8])"
    assert set(json.loads(modules.replace("'", '"'))) <= {
        "hyperbox.ada",
        "hyperbox.kernel",
    }  # not hyperbox.nas: torch, kornia, ada only


def test_a_search_from_python_saves_its_best_policy(tmp_path):
    overrides = ["budget.trials=1", "trainer.epochs=1", "mutator.population_size=1", f"output_dir={tmp_path}"]
    search = build_search(load_experiment(EXAMPLE, overrides), console=False, progress=False)
    result = search.run()
    search.model.augmentation.save(tmp_path / "policy.json", result.best.arch)
    assert load_policy(tmp_path / "policy.json", in_channels=1)(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


def test_a_policy_for_any_channel_count_is_checked_against_the_data_it_gets(tmp_path):
    path = _write(tmp_path / "any.json", in_channels=None, subpolicies=[[["rotate", 0.5, 3], ["color", 0.5, 3]]])
    assert load_policy(path, in_channels=3)(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"any\.json: subpolicies\[0\]\[1\]: op 'color' needs 3-channel images"):
        load_policy(path, input_shape=(1, 8, 8))
