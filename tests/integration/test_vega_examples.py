"""Vega's fine-grained space examples (examples/vega/, the guide's search_space sections verbatim)
run end to end on digits with small budgets."""

import json
import re
from pathlib import Path

import pytest
from torch import nn

from hyperbox.kernel.compose import build_search
from hyperbox.kernel.config import load_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "vega"
# the CIFAR ResNet-20 block by block, as the guide's examples describe it
RESNET20_ITEMS = {
    "inchannel": [16, 16, 16, 16, 32, 32, 32, 64, 64],
    "outchannel": [16, 16, 16, 32, 32, 32, 64, 64, 64],
    "stride": [1, 1, 1, 2, 1, 1, 2, 1, 1],
}


def resnet20(items=RESNET20_ITEMS):
    """The guide's CIFAR ResNet-20 on digits' one channel."""
    from hyperbox.networks.vega import BasicBlock, ResNet

    return ResNet(depth=20, block=BasicBlock, init_plane=16, out_plane=64, num_reps=9, items=items, in_channels=1)


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


def quantised_bits_saved(network, nbit_w):
    """What quantising the convolutions after the stem to ``nbit_w`` bits takes off 32 bits a parameter."""
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)][1:]
    return sum(conv.weight.numel() * (32 - bits) for conv, bits in zip(convs, nbit_w))


@pytest.mark.slow
def test_the_quantised_resnet20_searches_a_bit_width_per_layer(tmp_path):
    overrides = ["budget.trials=2", "trainer.epochs=1", f"output_dir={tmp_path}"]
    result = build_search(load_experiment(EXAMPLES / "resnet20_quant.yaml", overrides), console=False).run()
    assert result.status == "complete" and len(result.trials) == 2
    network = resnet20()
    # one decision per quantised convolution (20: 18 in the blocks, 2 shortcuts), weights and activations
    keys = {f"process.nbit_{side}_list.{i}" for side in "wa" for i in range(20)}
    for trial in result.trials:
        assert set(trial.values) == keys and set(trial.values.values()) <= {4, 8}
        nbit_w = [trial.values[f"process.nbit_w_list.{i}"] for i in range(20)]
        metrics = trial.metrics
        assert metrics["model_bits"] == 32 * metrics["params"] - quantised_bits_saved(network, nbit_w)


@pytest.mark.slow
def test_the_quantised_resnet18_reads_the_bit_widths_it_needs(tmp_path):
    from hyperbox.networks.vega import ResNet

    overrides = ["trainer.epochs=1", f"output_dir={tmp_path}"]
    with pytest.warns(UserWarning, match="20 bit widths for the 19 quantised convolutions"):
        result = build_search(load_experiment(EXAMPLES / "resnet18_quant.yaml", overrides), console=False).run()
    assert [t.state for t in result.trials] == ["complete"]
    # the guide's first 19 weight widths on ResNet-18's 19 convolutions after the stem (16 in blocks, 3 shortcuts)
    nbit_w = [8, 4, 8, 4, 4, 8, 8, 8, 8, 4, 4, 8, 4, 4, 4, 4, 8, 4, 8]
    metrics = result.best.metrics
    assert metrics["model_bits"] == 32 * metrics["params"] - quantised_bits_saved(
        ResNet(depth=18, in_channels=1), nbit_w
    )


@pytest.mark.slow
def test_the_resnet20_description_searched_as_an_architecture(tmp_path):
    overrides = ["budget.trials=2", "trainer.epochs=1", f"output_dir={tmp_path}"]
    result = build_search(load_experiment(EXAMPLES / "resnet20_nas.yaml", overrides), console=False).run()
    assert result.status == "complete" and len(result.trials) == 2
    for trial in result.trials:
        assert set(trial.values) == {f"resnet.items.stride.{i}" for i in range(9)}
        assert set(trial.values.values()) <= {1, 2}
        # the strides reach the network: a block that halves the resolution projects its shortcut
        items = {**RESNET20_ITEMS, "stride": [trial.values[f"resnet.items.stride.{i}"] for i in range(9)]}
        network = resnet20(items)
        assert trial.metrics["params"] == sum(p.numel() for p in network.parameters())
    assert len({json.dumps(t.values, sort_keys=True) for t in result.trials}) == 2


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
    overrides = ["budget.trials=2", "trainer.epochs=1", f"output_dir={tmp_path}"]
    result = build_search(load_experiment(EXAMPLES / "resnet20_prune.yaml", overrides), console=False).run()
    assert result.status == "complete" and len(result.trials) == 2
    full = resnet20()
    full_params = sum(p.numel() for p in full.parameters())
    for trial in result.trials:  # the searched rows keep 12 of their 16 channels (their positions), wherever they are
        assert set(trial.values) == {"process.chn_mask.0", "process.chn_mask.1"}
        assert all(len(set(kept)) == 12 and set(kept) <= set(range(16)) for kept in trial.values.values())
    pruned = {trial.metrics["params"] for trial in result.trials}
    assert len(pruned) == 1
    # a quarter of every layer's channels go: convolutions keep about (3/4)^2 of their weights
    assert 0.5 * full_params < pruned.pop() < 0.65 * full_params


@pytest.mark.parametrize(
    ("example", "change", "message"),
    [
        (
            "resnet20_nas.yaml",
            ("type: BasicBlock", "type: BasicBlok"),
            r"resnet.block: type: unknown block 'BasicBlok'; .*\(did you mean 'BasicBlock'\?\)",
        ),
        (
            "resnet20_nas.yaml",
            ("resnet.items.stride:", "resnet.items.strid:"),
            r"hyper_parameters: resnet.items.strid: resnet.items has no key 'strid'",
        ),
        (
            "resnet20_nas.yaml",
            ("num_reps: 9", "num_reps: 8"),
            r"resnet \(ResNet\): Repeat: items\['inchannel'\] has 9 values, num_reps is 8",
        ),
        (
            "resnet20_prune.yaml",
            (
                "chn_node_mask: [[1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0],",
                "chn_node_mask: [[1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1],",
            ),
            r"process \(Prune\): chn_node_mask\[0\]: expected 16 entries \(.*\), got 15",
        ),
        (
            "resnet20_nas.yaml",
            ("num_reps: 9", "num_reps: !!python/object/apply:os.getpid []"),
            r"line \d+, column \d+: .*!!python/object/apply:os.getpid: a tag that builds Python objects is refused",
        ),
    ],
)
def test_a_bad_description_is_one_line_naming_the_file_and_key(hbk, tmp_path, example, change, message):
    text = (EXAMPLES / example).read_text()
    assert change[0] in text
    experiment = tmp_path / "bad.yaml"
    experiment.write_text(text.replace(change[0], change[1], 1))
    result = hbk("run", str(experiment), f"output_dir={tmp_path / 'runs'}")
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert re.match(rf"hbk: error: {re.escape(str(experiment))}: .*{message}", line), line
    assert not (tmp_path / "runs").exists()  # nothing half-written
