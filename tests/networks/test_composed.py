"""Networks composed from registered blocks (Vega's fine-grained spaces), any nested argument searchable."""

import pytest
import torch
from torch import nn

from hyperbox.kernel import ConfigError, SearchSpace, search
from hyperbox.kernel.config import load_experiment
from hyperbox.nas.subnet import build_subnet
from hyperbox.networks.composed import ComposedNetwork


class Stem(nn.Module):
    def __init__(self, width=4, in_channels=3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class Stages(nn.Module):
    """A 3x3 convolution per stage, doubling the channels where ``doublechannel`` says 1."""

    def __init__(self, in_plane, doublechannel, block=None):
        super().__init__()
        layers, width = [], in_plane
        for double in doublechannel:
            out = width * 2 if double else width
            layers.append((block or nn.Conv2d)(width, out, 3, padding=1))
            width = out
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class Scale:
    """A process: multiplies the network's output."""

    def __init__(self, factor):
        self.factor = factor

    def apply(self, network):
        return nn.Sequential(network, _Times(self.factor))


class _Times(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


BLOCKS = {
    "Stem": Stem,
    "Stages": Stages,
    "Conv2d": nn.Conv2d,
    "AdaptiveAvgPool2d": nn.AdaptiveAvgPool2d,
    "Flatten": nn.Flatten,
    "Linear": nn.Linear,
    "Scale": Scale,
}


def network(hyper_parameters=None, **changes):
    entries = {
        "init": {"type": "Stem", "width": 4},
        "layer": {"type": "Stages", "in_plane": 4, "doublechannel": [0, 1, 0, 1], "block": {"type": "Conv2d"}},
        "pooling": {"type": "AdaptiveAvgPool2d", "output_size": (1, 1)},
        "view": {"type": "Flatten"},
        "linear": {"type": "Linear", "in_features": 16, "out_features": 10},
        **changes,
    }
    return ComposedNetwork(list(entries), entries, BLOCKS.__getitem__, hyper_parameters, in_channels=1)


def test_modules_run_in_order_with_nested_blocks_as_factories():
    model = network()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    convs = [m for m in model.network().modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4), (4, 4), (4, 8), (8, 8), (8, 16)]


def test_the_seeds_single_list_searches_where_its_ones_go():
    model = network({"layer.doublechannel": [0, 1, 0, 1], "linear.out_features": [10, 5]})
    space = SearchSpace.of(model)
    assert space.describe() == {
        "layer.doublechannel": "subset(4 choose 2)",
        "linear.out_features": "categorical[10, 5]",
    }
    arch = {"layer.doublechannel": [1, 1, 0, 0], "linear.out_features": 1}
    subnet = build_subnet(model, arch)
    assert subnet(torch.zeros(2, 1, 8, 8)).shape == (2, 5)
    convs = [m.out_channels for m in subnet.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [4, 8, 16, 16, 16]  # two doublings still: the head's 16 channels fit


def test_a_range_and_a_process():
    model = network({"scale.factor": {"type": "float", "low": 0.0, "high": 2.0}}, scale={"type": "Scale", "factor": 1})
    assert SearchSpace.of(model).describe() == {"scale.factor": "float[0.0, 2.0]"}
    subnet = build_subnet(model, {"scale.factor": 0.0})
    assert torch.count_nonzero(subnet(torch.ones(2, 1, 8, 8))) == 0  # the process scaled the whole network


@pytest.mark.parametrize(
    ("hyper_parameters", "message"),
    [
        ({"layer.doubling": [0, 1]}, r"hyper_parameters: layer.doubling: addresses no argument of 'Stages'"),
        ({"head.num_class": [10]}, r"hyper_parameters: head.num_class: addresses no argument"),
        ({"init.width": "wide"}, r"hyper_parameters: init.width: expected a non-empty list of values or a range"),
        (
            {"layer.doublechannel": [0, 1, 1]},
            r"hyper_parameters: layer.doublechannel: a 0/1 list searches where its ones go, so it needs the "
            r"argument's 4 entries with some but not all ones, got 3 entries with 2 ones",
        ),
        ({"layer.doublechannel": [1, 1, 1, 1]}, r"layer.doublechannel: a 0/1 list .* got 4 entries with 4 ones"),
    ],
)
def test_bad_hyper_parameters_are_one_line_errors(hyper_parameters, message):
    with pytest.raises(ValueError, match=message):
        network(hyper_parameters)


def test_a_description_outside_modules_is_an_error():
    base = network()
    with pytest.raises(ValueError, match=r"extra: not one of modules"):
        ComposedNetwork(base.module_names, {**base._config, "extra": {"type": "Flatten"}}, BLOCKS.__getitem__)


def test_an_unregistered_type_names_the_closest_block():
    with pytest.raises(ConfigError, match=r"space 'compose': linear: type: .*'Linaer'.*Linear"):
        search(
            {
                "name": "compose",
                "modules": ["view", "linear"],
                "view": {"type": "Flatten"},
                "linear": {"type": "Linaer", "in_features": 64, "out_features": 10},
                "hyper_parameters": {"linear.bias": [True, False]},
            },
            "random",
            objective=lambda trial: 1.0,
            dataset="digits",
            budget=1,
        )


def test_vegas_search_space_form_runs_from_an_experiment_file(tmp_path):
    experiment = tmp_path / "vega.yaml"
    experiment.write_text(
        """
dataset: digits
search_space:
    type: FineGrainedSpace
    hyper_parameters:
        conv.kernel_size: [1, 3]
    modules: ['conv', 'pooling', 'view', 'linear']
    conv:
        type: Conv2d
        in_channels: 1
        out_channels: 8
        kernel_size: 3
    pooling:
        type: AdaptiveAvgPool2d
        output_size: !!python/tuple [1, 1]
    view:
        type: Flatten
    linear:
        type: Linear
        in_features: 8
        out_features: 10
mutator: random
trainer: {name: standalone, epochs: 1}
estimators: [accuracy]
budget: {trials: 2}
"""
    )
    loaded = load_experiment(experiment)
    assert loaded.space.name == "FineGrainedSpace" and loaded.space.args["pooling"]["output_size"] == (1, 1)
    from hyperbox.kernel.compose import build_search

    result = build_search(loaded, directory=tmp_path / "run").run()
    assert sorted(t.values["conv.kernel_size"] for t in result.trials) == [1, 3]
    assert all(t.state == "complete" for t in result.trials)


def test_a_python_tag_other_than_tuple_is_refused(tmp_path):
    experiment = tmp_path / "evil.yaml"
    experiment.write_text("dataset: digits\nspace: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match=r"evil.yaml: line 2.*!!python/object/apply:os.system: a tag that builds"):
        load_experiment(experiment)


def test_a_third_party_plugins_block_composes_a_network(toy_site):
    toy_site("toy")  # registers ToyBlock through hyperbox_register_blocks
    space = {
        "name": "compose",
        "modules": ["view", "scale", "linear"],
        "view": {"type": "Flatten"},
        "scale": {"type": "ToyBlock", "factor": 2},
        "linear": {"type": "Linear", "in_features": 64, "out_features": 10},
        "hyper_parameters": {"scale.factor": [0, 3]},
    }

    def objective(trial):  # a factor of 0 zeroes what the linear layer sees: only its bias is left
        model = trial.model
        out = model(torch.ones(2, 1, 8, 8))
        bias = model.network()[2].bias
        return float(torch.allclose(out, bias.expand_as(out)))

    result = search(space, "random", objective=objective, dataset="digits", budget=2, seed=0)
    assert {t.values["scale.factor"]: t.metrics["accuracy"] for t in result.trials} == {0: 1.0, 3: 0.0}


def test_a_differentiable_search_refuses_a_composed_network(tmp_path):
    space = {
        "name": "compose",
        "modules": ["view", "linear"],
        "view": {"type": "Flatten"},
        "linear": {"type": "Linear", "in_features": 64, "out_features": 10},
        "hyper_parameters": {"linear.bias": [True, False]},
    }
    with pytest.raises(ConfigError, match="trainer 'darts': ComposedNetwork builds a network for each architecture"):
        search(space, "darts", trainer={"name": "darts", "epochs": 1}, dataset="digits", budget=1, directory=tmp_path)
    assert not (tmp_path / "run").exists()


def test_overlapping_keys_and_indices_outside_a_list_are_one_line_errors():
    with pytest.raises(ValueError, match="layer.block.stride: lies inside layer.block"):
        network({"layer.block": [{"type": "Conv2d"}], "layer.block.stride": [1, 2]})
    with pytest.raises(
        ValueError, match="layer.doublechannel.4: '4' is not an index of the 4 entries of layer.doublechannel"
    ):
        network({"layer.doublechannel.4": [0, 1]})
    with pytest.raises(ValueError, match="layer.doublechannel.0.1: addresses no argument of 'int'"):
        network({"layer.doublechannel.0.1": [0, 1]})
    with pytest.raises(ValueError, match="layer.in_plane: each: the description gives no list here, got 4"):
        network({"layer.in_plane": {"each": [4, 8]}})


def test_an_index_addresses_one_entry_of_a_list():
    model = network({"layer.doublechannel.2": [0, 1]}, linear={"type": "Linear", "in_features": 32, "out_features": 10})
    assert SearchSpace.of(model).describe() == {"layer.doublechannel.2": "categorical[0, 1]"}
    subnet = build_subnet(model, {"layer.doublechannel.2": 1})
    assert subnet(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    convs = [m.out_channels for m in subnet.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [4, 4, 8, 16, 32]  # the third stage doubles too
    assert model._config["layer"]["doublechannel"] == [0, 1, 0, 1]  # the description itself is left as it was


def test_each_makes_one_decision_per_entry_of_a_list():
    model = network(
        {"layer.doublechannel": {"each": [0, 1]}}, linear={"type": "Linear", "in_features": 64, "out_features": 10}
    )
    space = SearchSpace.of(model)
    assert list(space.describe()) == [f"layer.doublechannel.{i}" for i in range(4)]
    subnet = build_subnet(model, {f"layer.doublechannel.{i}": 1 for i in range(4)})
    assert subnet(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert [m.out_channels for m in subnet.modules() if isinstance(m, nn.Conv2d)] == [4, 8, 16, 32, 64]
