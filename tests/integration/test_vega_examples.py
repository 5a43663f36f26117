"""Vega's fine-grained space examples (examples/vega/, the guide's search_space sections verbatim)
run end to end on digits with small budgets."""

import json
from pathlib import Path

import pytest

from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "vega"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("backbone_nas.yaml", {"layer.doublechannel", "layer.downsample"}),
        ("resnet_variant.yaml", {"resnet18.doublechannel", "resnet18.downsample"}),
    ],
)
def test_vega_example_searches_its_hyper_parameters(name, keys, tmp_path):
    overrides = ["budget.trials=1", "trainer.epochs=1", f"output_dir={tmp_path}"]
    result = build_search(load_experiment(EXAMPLES / name, overrides), console=False, progress=False).run()
    assert result.status == "complete" and result.best is not None
    assert set(result.best.values) == keys
    for key in keys:  # where the ones go, as many as the guide's list has
        assert len(result.best.values[key]) == (4 if "backbone" in name else 3)
    assert json.loads((result.directory / "best_arch.json").read_text()) == result.best.arch


@pytest.mark.slow
def test_the_quantised_resnet20_reports_its_size_in_bits(tmp_path):
    overrides = ["budget.trials=1", "trainer.epochs=1", f"output_dir={tmp_path}"]
    experiment = load_experiment(EXAMPLES / "resnet20_quant.yaml", overrides)
    result = build_search(experiment, console=False, progress=False).run()
    metrics = result.best.metrics
    assert result.status == "complete" and set(result.best.values) == {"process.nbit_a_list"}
    # the guide's weight bits (4 or 8) on the 20 quantised convolutions, 32 bits elsewhere
    assert 4 * metrics["params"] < metrics["model_bits"] < 32 * metrics["params"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "params"),
    [
        # torchvision's ResNet-18 (11,689,512) with a 1-channel stem (-6,272) and 10 classes (-507,870)
        ("resnet18_coarse.yaml", 11_175_370),
        # torchvision's ResNet-50 (25,557,032) with a 1-channel stem (-6,272) and 10 classes (-2,028,510)
        ("resnet50_fine_grained.yaml", 23_522_250),
    ],
)
def test_a_described_network_without_hyper_parameters_trains_once(name, params, tmp_path):
    overrides = ["trainer.epochs=1", f"output_dir={tmp_path}"]
    result = build_search(load_experiment(EXAMPLES / name, overrides), console=False, progress=False).run()
    assert [t.state for t in result.trials] == ["complete"] and result.best.values == {}
    assert result.best.metrics["params"] == params


@pytest.mark.slow
def test_the_pruned_resnet20_is_smaller_by_what_its_masks_remove(tmp_path):
    from hyperbox.networks.vega import BasicBlock, ResNet

    overrides = ["trainer.epochs=1", f"output_dir={tmp_path}"]
    result = build_search(load_experiment(EXAMPLES / "resnet20_prune.yaml", overrides), console=False).run()
    items = {
        "inchannel": [16, 16, 16, 16, 32, 32, 32, 64, 64],
        "outchannel": [16, 16, 16, 32, 32, 32, 64, 64, 64],
        "stride": [1, 1, 1, 2, 1, 1, 2, 1, 1],
    }
    full = ResNet(depth=20, block=BasicBlock, init_plane=16, out_plane=64, num_reps=9, items=items, in_channels=1)
    full_params = sum(p.numel() for p in full.parameters())
    pruned = result.best.metrics["params"]
    # a quarter of every layer's channels go: convolutions keep about (3/4)^2 of their weights
    assert 0.5 * full_params < pruned < 0.65 * full_params
