"""Hypernets-style spaces: parameters, combinators, layers inferring their input size, and the
conditional decisions of Repeat / Optional / Or."""

import itertools
import random

import optuna
import pytest
import torch
from torch import nn

from hyperbox.kernel import SearchSpace, search
from hyperbox.nas.hyper import (
    Activation,
    BatchNormalization,
    Bool,
    Choice,
    Constant,
    Conv2D,
    Dense,
    Dropout,
    Dynamic,
    Flatten,
    HyperSpace,
    InputChoice,
    Int,
    MaxPooling2D,
    Optional,
    Or,
    Permutation,
    Real,
    Repeat,
    Sequential,
)
from hyperbox.nas.subnet import build_subnet


def decide(space, **values):
    """Apply decisions given as values (``depth=2``) to ``space``; returns the architecture."""
    searched = SearchSpace.of(space)
    arch = {}
    for key in searched:
        mutable = searched.mutables(key)[0]
        options = getattr(mutable, "candidates", None)
        arch[key] = options.index(values[key]) if key in values and options is not None else values.get(key, 0)
    return searched.apply(arch)


# -- parameters ---------------------------------------------------------------------------------------
def test_parameters_have_values_and_domains():
    assert Choice(["relu", "tanh"]).value == "tanh"  # undecided: the largest (what a supernet holds)
    assert Choice([None, "relu"]).value is None  # no order: the first
    assert Bool().candidates == [False, True]
    steps = Real(0.0, 0.5, step=0.1)
    assert steps.points == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    steps.decision = 3
    assert steps.value == 0.3
    number = Int(2, 8, step=2)
    number.decision = 4
    assert number.value == 4 and number.domain.describe() == "int[2, 8, step 2]"
    log = Real(1e-4, 1e-1, log=True)
    assert log.domain.log and log.value == pytest.approx(0.1)
    units, factor = Choice([100, 200]), Choice([1, 0.5])
    shrunk = Dynamic(lambda units, factor: units * factor, units=units, factor=factor)
    units.decision, factor.decision = 1, 1
    assert shrunk.value == 100 and Constant(7).value == 7


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Choice([]), "Choice: no options; give at least one"),
        (lambda: Int(5, 1), r"Int\(5, 1\): high 1 is below low 5"),
        (lambda: Real(0, 1, log=True, key="lr"), r"Real 'lr'\(0, 1\): log=True needs low > 0, got 0"),
        (lambda: Real(1, 0), r"Real\(1, 0\): high 0 is below low 1"),
        (lambda: Dynamic(lambda units: units, width=Choice([1])), r"Dynamic: lambda_fn\(units\) cannot take .*width"),
        (lambda: Dense(8, activation="rleu"), "Dense: unknown activation 'rleu'"),
        (lambda: Or([nn.ReLU(), nn.Tanh()], hp_or=Choice([0, 1, 2], key="op")), "Or 'op': hp_or has 3 options for 2"),
        (lambda: Repeat(lambda step: nn.ReLU(), [0, 2]), r"Repeat: repeat_num_choices \[0, 2\] must be positive"),
        (lambda: HyperSpace(nn.ReLU(), input_shape=(0, 4)), r"HyperSpace: input_shape \(0, 4\) must be positive"),
    ],
)
def test_bad_parameters_and_blocks_are_one_line_errors(build, message):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert "\n" not in str(error.value)


# -- layers and combinators ---------------------------------------------------------------------------
def test_layers_infer_their_input_size_and_export_plain_modules():
    width = Choice([8, 16])
    space = HyperSpace(
        Sequential([Conv2D(width, 3, padding="same", activation="relu"), MaxPooling2D(padding="same"), Flatten()]),
        input_shape=(3, 7, 7),
    )
    decide(space, **{"Conv2D_1.filters": 16})
    model = build_subnet(space, {"Conv2D_1.filters": 1})
    assert model(torch.zeros(2, 3, 7, 7)).shape == (2, 16 * 4 * 4)  # same padding: ceil(7 / 2) = 4
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 16)]
    assert not any(isinstance(m, HyperSpace) for m in model.modules())


def test_optional_or_and_permutation_run_what_is_chosen():
    space = HyperSpace(
        Sequential(
            [
                Dense(4),
                Permutation([Activation("relu"), Optional(Dropout(0.5), hp_opt=Bool(key="drop"))], hp_seq=None),
                Or([Activation("tanh"), Activation("sigmoid")], hp_or=Choice(["tanh", "sigmoid"], key="squash")),
            ]
        ),
        input_shape=3,
    )
    searched = SearchSpace.of(space)
    assert list(searched) == ["Permutation_1.hp_seq", "drop", "squash"]
    assert searched.values_of({"Permutation_1.hp_seq": 1, "drop": 0, "squash": 1}) == {
        "Permutation_1.hp_seq": [1, 0],
        "drop": False,
        "squash": "sigmoid",
    }
    model = build_subnet(space, {"Permutation_1.hp_seq": 1, "drop": 1, "squash": 1})
    kinds = [type(m).__name__ for m in model.modules() if not isinstance(m, nn.Sequential)]
    assert kinds == ["Linear", "Dropout", "ReLU", "Sigmoid"]
    skipped = build_subnet(space, {"Permutation_1.hp_seq": 0, "drop": 0, "squash": 0})
    assert [type(m).__name__ for m in skipped.modules() if not isinstance(m, nn.Sequential)] == [
        "Linear",
        "ReLU",
        "Identity",
        "Tanh",
    ]


def test_a_permutation_whose_modules_do_not_chain_names_the_order():
    space = HyperSpace(Permutation([Conv2D(4, 3), Flatten()], hp_seq=Choice([(0, 1), (1, 0)], key="order")), (1, 5, 5))
    decide(space, order=(0, 1))
    assert space(torch.zeros(2, 1, 5, 5)).shape == (2, 4 * 3 * 3)
    decide(space, order=(1, 0))
    with pytest.raises(ValueError, match=r"Permutation 'order': in order \[1, 0\], module 0 \(Conv2D\) cannot take"):
        space(torch.zeros(2, 1, 5, 5))


def test_input_choice_picks_its_inputs():
    choice = InputChoice([None, None, None], n=2, key="inputs", reduction="sum")
    choice.decision = (0, 2)
    a, b, c = torch.ones(1), 2 * torch.ones(1), 4 * torch.ones(1)
    assert choice([a, b, c]).item() == 5


# -- conditional decisions ----------------------------------------------------------------------------
def deep_space():
    """2-4 layers, each with its own width: the widths of layers beyond the depth do not matter."""
    return HyperSpace(
        Sequential([Repeat(lambda step: Dense(Choice([4, 8])), [2, 3, 4], hp_repeat=Choice([2, 3, 4], key="depth"))]),
        input_shape=5,
    )


def test_a_repeat_of_depth_two_trains_and_shows_only_its_two_layers():
    space = deep_space()
    searched = SearchSpace.of(space)
    assert list(searched) == ["depth", "Dense_1.units", "Dense_2.units", "Dense_3.units", "Dense_4.units"]
    arch = searched.validate({"depth": 0, "Dense_1.units": 1, "Dense_2.units": 0})  # layers 3, 4 left out
    assert searched.values_of(arch) == {"depth": 2, "Dense_1.units": 8, "Dense_2.units": 4}
    model = build_subnet(space, arch)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 8), (8, 4)]  # nothing of layers 3 and 4
    result = search(space, "random", objective=lambda trial: len(trial.values), budget=6, seed=0)
    for trial in result.trials:
        assert len(trial.values) == 1 + trial.values["depth"]  # the depth and one width per layer


def test_an_optuna_study_lists_only_the_active_parameters():
    from hyperbox.hpo.mutator import OptunaMutator

    mutator = OptunaMutator(deep_space(), seed=3, sampler="random")
    for _ in range(8):
        arch = mutator.space.to_json(mutator.reset())
        mutator.observe(arch, {"accuracy": float(len(mutator.space.active(arch)))})
    depths = set()
    for frozen in mutator.study.trials:
        depth = frozen.params["depth"]
        depths.add(depth)
        assert set(frozen.params) == {"depth", *(f"Dense_{i}.units" for i in range(1, depth + 1))}
        assert frozen.state == optuna.trial.TrialState.COMPLETE
    assert len(depths) > 1


def test_evolution_mutates_only_active_decisions():
    space = deep_space()
    result = search(space, {"name": "evolution", "population_size": 2}, objective=lambda t: 1.0, budget=12, seed=0)
    assert len(result.trials) == 12 and all(t.state == "complete" for t in result.trials)
    shown = {tuple(sorted(t.values.items())) for t in result.trials}
    assert len(shown) == 12  # every trial a distinct architecture, as its active decisions tell


def test_a_searched_space_trains_on_digits():
    def block(step):
        return Sequential([Dense(Choice([16, 32])), Optional(BatchNormalization(), hp_opt=Bool()), Activation("relu")])

    space = HyperSpace(Sequential([Flatten(), Repeat(block, [1, 2]), Dense(10)]), input_shape=(1, 8, 8))
    result = search(
        space,
        "random",
        trainer={"name": "standalone", "epochs": 2},
        dataset="digits",
        estimators=["accuracy", "params"],
        budget=2,
        seed=0,
    )
    assert all(t.state == "complete" for t in result.trials), [t.error for t in result.trials]
    best = result.best_model()
    assert best(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert sum(p.numel() for p in best.parameters()) == result.best.metrics["params"]


def test_keys_are_named_after_the_modules_that_take_the_parameters_and_stable():
    def keys():
        shared = Choice(["relu", "tanh"])
        block = Sequential([Dense(Choice([4, 8])), Activation(shared), Optional(Dropout(Real(0.1, 0.3, step=0.1)))])
        return list(SearchSpace.of(HyperSpace(Sequential([block, Dense(Int(2, 6))]), input_shape=3)))

    assert (
        keys()
        == keys()
        == ["Dense_1.units", "Activation_1.activation", "Optional_1.hp_opt", "Dropout_1.rate", "Dense_2.units"]
    )


def test_every_permutation_option_is_checked():
    with pytest.raises(ValueError, match=r"option \(0, 0\) is not an order of the 2 modules"):
        Permutation([nn.ReLU(), nn.Tanh()], hp_seq=Choice([(0, 1), (0, 0)]))
    assert len(Permutation([nn.ReLU(), nn.Tanh(), nn.Sigmoid()]).hp_seq.candidates) == len(
        list(itertools.permutations(range(3)))
    )


def test_random_architectures_of_a_nested_space_all_run():
    def conv(step):
        return Sequential([Conv2D(Choice([2, 4]), Choice([1, 3]), padding="same"), Optional(BatchNormalization())])

    space = HyperSpace(
        Sequential([Repeat(conv, [1, 2, 3]), Or([MaxPooling2D(padding="same"), Flatten()]), Flatten(), Dense(3)]),
        input_shape=(1, 6, 6),
    )
    searched = SearchSpace.of(space)
    rng = random.Random(0)
    for _ in range(15):
        model = build_subnet(space, searched.sample(rng))
        model(torch.randn(2, 1, 6, 6)).sum().backward()


def test_optuna_searches_permutations_and_tuple_choices():
    from hyperbox.networks.hypernets import cnn_search_space

    space = cnn_search_space((1, 8, 8), 3, filters_choices=(2, 4), fc_units_choices=(4, 8))
    result = search(space, {"name": "optuna", "sampler": "random"}, objective=lambda t: 1.0, budget=3, seed=0)
    assert all(trial.state == "complete" for trial in result.trials)
    assert result.trials[0].values["kernel_size"] in ([1, 1], [3, 3])


def test_a_grid_refuses_a_space_whose_decisions_may_be_inactive():
    from hyperbox.kernel import ConfigError

    with pytest.raises(ConfigError, match="sampler 'grid' enumerates every parameter"):
        search(deep_space(), {"name": "optuna", "sampler": "grid"}, objective=lambda t: 1.0, budget=3)


def test_layers_follow_the_spaces_dtype_and_mode():
    space = HyperSpace(Sequential([Dense(Choice([4])), Dropout(0.9)]), input_shape=3)
    decide(space)
    space.double().eval()
    out = space(torch.ones(5, 3, dtype=torch.float64))
    assert out.dtype == torch.float64
    assert torch.equal(out, space(torch.ones(5, 3, dtype=torch.float64)))  # dropout is off in eval mode


def test_an_export_without_a_run_under_the_current_decisions_is_refused():
    width = Choice([4, 8], key="width")
    chain = Sequential([Dense(width)])
    width.decision = 0
    chain(torch.zeros(2, 5))
    width.decision = 1  # never run with 8 units
    with pytest.raises(ValueError, match="Dense: not built for the current decisions"):
        chain.steps[0].export_module()


def test_named_layers_name_their_parameters_keys():
    space = HyperSpace(Sequential([Dense(Choice([4, 8]), name="fc1"), Dense(Choice([2, 3]), name="fc2")]), 3)
    assert list(SearchSpace.of(space)) == ["fc1.units", "fc2.units"]


def test_a_dropped_link_in_a_chain_is_a_clear_error():
    space = HyperSpace(Sequential([Optional(Dense(4), keep_link=False, hp_opt=Bool(key="on")), Dense(2)]), 3)
    decide(space, on=False)
    with pytest.raises(ValueError, match="Sequential: Optional dropped its link"):
        space(torch.zeros(2, 3))


def micro_space():
    from hyperbox.networks.hypernets import enas_micro_search_space

    return enas_micro_search_space(arch="NR", input_shape=(1, 8, 8), init_filters=4, node_num=2)


@pytest.mark.parametrize("mutator", ["darts", "gdas"])
def test_differentiable_search_relaxes_or_optional_and_input_choice(mutator):
    result = search(
        micro_space(),
        mutator,
        trainer={"name": "darts", "epochs": 1, "batch_size": 128},
        dataset="digits",
        estimators=["accuracy"],
        budget=1,
        seed=0,
    )
    trial = result.trials[0]
    assert trial.state == "complete", trial.error
    assert trial.values["normal_N0_L_op_choice"] in (
        "sepconv5x5",
        "sepconv3x3",
        "avgpooling3x3",
        "maxpooling3x3",
        "identity",
    )


def test_an_optional_and_an_or_mix_their_candidates_under_a_mixer():
    opt, pick = Bool(key="opt"), Choice(["double", "negate"], key="pick")
    space = HyperSpace(
        Sequential([Optional(Activation("relu"), hp_opt=opt), Or([_Scale(2.0), _Scale(-1.0)], hp_or=pick)]), 1
    )
    opt.mixer = lambda: (torch.tensor([0.25, 0.75]), None)  # a quarter bypass, three quarters relu
    pick.mixer = lambda: (torch.tensor([0.5, 0.5]), None)
    out = space(torch.tensor([[-4.0]]))
    assert out.item() == pytest.approx(0.5 * 2 * -1.0 + 0.5 * -1 * -1.0)  # 0.25 * -4 + 0.75 * 0 = -1


class _Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


@pytest.mark.parametrize(
    ("space", "key", "why"),
    [
        (lambda: deep_space(), "depth", "the depth of a Repeat"),
        (
            lambda: HyperSpace(Permutation([nn.ReLU(), nn.Tanh()], hp_seq=Choice([(0, 1), (1, 0)], key="o")), 2),
            "o",
            "orders a Permutation",
        ),
        (lambda: HyperSpace(Dense(Choice([2, 4], key="units")), 2), "units", "a layer argument"),
    ],
)
def test_darts_refuses_what_it_cannot_relax_naming_the_key(space, key, why):
    from hyperbox.kernel import ConfigError

    with pytest.raises(ConfigError, match=f"cannot relax '{key}': it .*{why}"):
        search(space(), "darts", trainer={"name": "darts", "epochs": 1}, dataset="digits", budget=1)


def test_one_shot_training_refuses_a_space_without_shared_weights():
    from hyperbox.kernel import ConfigError

    with pytest.raises(ConfigError, match="trainer 'oneshot': HyperSpace builds its layers for each architecture"):
        search(deep_space(), "random", trainer={"name": "oneshot", "epochs": 1}, dataset="digits", budget=1)


def test_multiple_choice_picks_at_most_its_number_of_options():
    from hyperbox.nas.hyper import MultipleChoice

    with pytest.raises(ValueError, match=r"MultipleChoice 'aug': num_chosen_most=4 must be between 1 and the 3"):
        MultipleChoice(["flip", "crop", "blur"], num_chosen_most=4, key="aug")
    few = MultipleChoice(["flip", "crop", "blur"], num_chosen_most=2, key="aug")
    few.decision = (0, 2)
    assert few.value == ["flip", "blur"]


@pytest.mark.parametrize(
    "mutator",
    [
        "random",
        {"name": "evolution", "population_size": 4},  # evolving: its mutations must keep the limit too
        {"name": "optuna", "sampler_args": {"n_startup_trials": 4}},
        "mcts",
        "moead",
    ],
)
@pytest.mark.parametrize("options", [6, 8])  # Optuna enumerates 21 subsets of 6, scores the 92 of 8
def test_every_mutator_keeps_a_multiple_choice_within_its_limit(mutator, options):
    from hyperbox.nas.hyper import MultipleChoice

    picks = MultipleChoice(list(range(options)), num_chosen_most=2 if options == 6 else 3, key="picks")
    result = search(picks, mutator, objective=lambda trial: float(sum(trial.values["picks"])), budget=12, seed=0)
    for trial in result.trials:
        assert 1 <= len(trial.values["picks"]) <= picks.num_chosen_most


def test_a_run_exports_only_the_active_decisions(tmp_path):
    import json as jsonlib

    result = search(
        deep_space(), "random", objective=lambda t: -t.values["depth"], budget=6, seed=0, directory=tmp_path
    )
    depth = result.best.values["depth"]
    assert depth < 4  # some layers' decisions are inactive
    best_arch = jsonlib.loads((tmp_path / "best_arch.json").read_text())
    assert set(best_arch) == {"depth", *(f"Dense_{i}.units" for i in range(1, depth + 1))}
    summary = jsonlib.loads((tmp_path / "summary.json").read_text())
    assert summary["best"]["arch"] == best_arch
    rebuilt = build_subnet(deep_space(), best_arch)  # the left-out decisions are not needed
    assert len([m for m in rebuilt.modules() if isinstance(m, nn.Linear)]) == depth


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dense(Choice([4, 0])), "Dense: units must be positive, got 0"),
        (lambda: Repeat(Dense(4), [1, 2]), "Repeat: module_fn must be a function of the step"),
        (lambda: Optional("x"), "Optional: module must be a torch module"),
        (lambda: HyperSpace(Sequential([Dense(2, name="fc"), Dense(3, name="fc")]), 4), "two layers are named 'fc'"),
    ],
)
def test_more_bad_blocks_are_one_line_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_an_input_in_keras_layout_is_named_as_such():
    space = HyperSpace(Sequential([Flatten(), Dense(2)]), input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"input of shape \(8, 8, 1\).*expected \(1, 8, 8\).*\(C, H, W\)"):
        space(torch.zeros(2, 8, 8, 1))


def test_batch_normalization_statistics_follow_a_short_training():
    norm = BatchNormalization()
    norm(torch.full((4, 3), 5.0) + torch.randn(4, 3))
    running = norm.built["config0"].running_mean
    assert running.mean().item() > 0.3  # PyTorch's momentum 0.1: a tenth of the way to 5 in one step


def test_loose_ends_are_every_node_while_input_choices_are_mixed():
    from hyperbox.nas.hyper import ConnectLooseEnd

    choice = InputChoice(3, 1, key="pick")
    choice.decision = (1,)  # state 1: node0
    loose = ConnectLooseEnd([choice], n_nodes=2)
    states = ["input", "node0", "node1"]
    assert loose(states) == ["node1"]  # node0 is taken by the choice
    choice.mixer = lambda: (torch.ones(3) / 3, None)
    assert loose(states) == ["node0", "node1"]
