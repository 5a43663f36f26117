"""Hypernets' DNN, CNN and ENAS-micro spaces: the seed's choices, and sampled architectures that
build, train a step, and rebuild from their exported (active) decisions."""

import json
import random

import pytest
import torch

from hyperbox.kernel import SearchSpace, search
from hyperbox.nas.datasets import from_arrays
from hyperbox.nas.subnet import build_subnet
from hyperbox.networks.hypernets import cnn_search_space, dnn_search_space, enas_micro_search_space

SPACES = {
    # the seed's structure, with fewer filters and units so that 200 architectures run in seconds
    "dnn": lambda: dnn_search_space(10, 2, units_choices=(20, 50, 100)),
    "cnn": lambda: cnn_search_space((1, 8, 8), 10, filters_choices=(2, 4), fc_units_choices=(8, 16)),
    "enas_micro": lambda: enas_micro_search_space(input_shape=(1, 8, 8), init_filters=4, output_units=10),
}


def check_architectures(name, count, seed=0):
    """``count`` random architectures each run forward and backward, and the exported (active)
    decisions rebuild a model with the same parameters that gives the same output."""
    space = SPACES[name]()
    searched = SearchSpace.of(space)
    rng = random.Random(seed)
    shape = space.input_shape
    for _ in range(count):
        arch = searched.sample(rng)
        model = build_subnet(space, arch)
        model.train()
        batch = torch.randn(4, *shape)
        model(batch).sum().backward()
        exported = json.loads(json.dumps(searched.to_json(searched.active_only(arch))))
        rebuilt = build_subnet(space, exported)
        assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())
        rebuilt.load_state_dict(model.state_dict())
        model.eval(), rebuilt.eval()
        with torch.no_grad():
            assert torch.equal(model(batch), rebuilt(batch))


@pytest.mark.parametrize("name", SPACES)
def test_sampled_architectures_run_and_rebuild(name):
    check_architectures(name, 8)


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
def test_two_hundred_sampled_architectures_run_and_rebuild(name):
    check_architectures(name, 200, seed=1)


def test_the_dnn_space_has_the_seeds_choices():
    values = _choices(dnn_search_space(10, 2))
    assert values["units"] == [200, 500, 1000]
    assert values["reduce_factor"] == [1, 0.8, 0.5]
    assert values["layers"] == [2, 3, 4]
    assert values["activation"] == ["relu", "tanh"]
    assert values["use_bn"] == [False, True]
    assert values["dropout"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert len(values["seq"]) == 6  # the orders of activation, optional BN and dropout


def test_dnn_units_shrink_by_the_reduce_factor():
    space = dnn_search_space(10, 2)
    searched = SearchSpace.of(space)
    arch = {key: 0 for key in searched}
    arch.update(units=1, reduce_factor=2, layers=2, use_bn=0)  # 500 units, factor 0.5, 4 layers
    model = build_subnet(space, arch)
    widths = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [500, 250, 125, 62, 2]  # units * 0.5 ** step, as Keras truncates it


def test_the_cnn_space_has_the_seeds_blocks():
    space = cnn_search_space((1, 28, 28), 10)
    choices = _choices(space)
    assert choices["blocks"] == [2, 3, 4, 5, 6]
    assert choices["filters"] == [32, 64]
    assert choices["kernel_size"] == [(1, 1), (3, 3)]
    assert choices["fc_units"] == [1024, 2048, 4096]
    searched = SearchSpace.of(space)
    arch = {key: 0 for key in searched}
    arch.update(blocks=1)  # 3 blocks: the third repeats its convolution 3 to 5 times, with twice the filters
    third = [key for key in searched if key.endswith("_convs") and searched[key].n == 3]
    assert third == ["block2_convs", "block3_convs", "block4_convs", "block5_convs"]  # blocks 3 to 6
    values = searched.values_of(arch)
    assert [key for key in third if key in values] == third[:1]  # blocks 4 to 6 are inactive
    model = build_subnet(space, {**arch, third[0]: 2})
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32] * 4 + [64] * 5


def test_the_enas_micro_space_has_the_seeds_cells():
    searched = SearchSpace.of(enas_micro_search_space(input_shape=(1, 8, 8), init_filters=4))
    assert len(searched) == 2 * 4 * 2 * 2  # normal and reduction cells, 4 nodes, 2 inputs, choice and op
    assert searched["normal_N3_L_input_choice"].n == 5  # the cell's two inputs and nodes 0 to 2
    assert searched["reduction_N0_R_op_choice"].labels == (
        "sepconv5x5",
        "sepconv3x3",
        "avgpooling3x3",
        "maxpooling3x3",
        "identity",
    )
    # both normal cells of NRNR share one set of decisions
    assert len(searched.mutables("normal_N0_L_op_choice")) == 2


def test_the_registered_dnn_space_searches_arrays():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(120, 6, generator=generator)
    labels = (features[:, 0] + features[:, 1] > 0).long()
    data = from_arrays(features[:90].numpy(), labels[:90].numpy(), features[90:].numpy(), labels[90:].numpy())
    result = search(
        {"name": "dnn", "units_choices": [8, 16], "layer_num_choices": [1, 2]},
        "random",
        trainer={"name": "standalone", "epochs": 3},
        dataset=data,
        estimators=["accuracy"],
        budget=2,
        seed=0,
    )
    assert [t.state for t in result.trials] == ["complete", "complete"]
    assert result.best_model()(torch.zeros(1, 6)).shape == (1, 2)


def _choices(space):
    return {key: list(domain.labels) for key, domain in SearchSpace.of(space).items()}
