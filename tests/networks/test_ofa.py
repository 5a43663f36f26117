"""OFA MobileNetV3: parameter counts of the original implementation, subnet extraction, bad
architectures, the progressive-shrinking trainer and the digits example."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.kernel.testing import TrainerTestCase
from hyperbox.nas.datasets import digits
from hyperbox.networks.ofa import OFAMobileNetV3, OFATrainer
from hyperbox.networks.ofa._trainer import soft_cross_entropy

torch.set_num_threads(1)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Reference parameter counts, width_mult=1.0, num_classes=1000, kernel [3, 5, 7], expand [3, 4, 6],
# depth [2, 3, 4]. Source: github.com/mit-han-lab/once-for-all at commit f03b267,
# ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py, run on CPU (torchvision stubbed
# out): OFAMobileNetV3(n_classes=1000, width_mult=1.0, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
# depth_list=[2, 3, 4]), then set_active_subnet(ks, e, d) and
# sum(p.numel() for p in get_active_subnet().parameters()); the supernet's own count includes the
# kernel-transform matrices. Each extracted subnet gave a (1, 1000) output on a 1x3x224x224 input.
REFERENCE_SUPERNET_PARAMS = 7_678_880
REFERENCE_SUBNET_PARAMS = {
    "largest": ({"kernel_size": 7, "expand_ratio": 6, "depth": 4}, 7_664_760),
    "smallest": ({"kernel_size": 3, "expand_ratio": 3, "depth": 2}, 3_410_792),
    "middle": ({"kernel_size": 5, "expand_ratio": 4, "depth": 3}, 4_551_792),
    # one value per block (ks, e: 20 blocks in stage order) and per stage (d), as OFA takes them
    "mixed": (
        {
            "kernel_size": [3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5],
            "expand_ratio": [3, 4, 6, 6, 4, 3, 3, 4, 6, 6, 4, 3, 3, 4, 6, 6, 4, 3, 4, 6],
            "depth": [2, 3, 4, 3, 2],
        },
        4_208_928,
    ),
}


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def supernet() -> OFAMobileNetV3:
    torch.manual_seed(0)
    return OFAMobileNetV3()


def _scramble(model: nn.Module) -> None:
    """Random BatchNorm statistics and kernel-transform matrices, so slicing mistakes show in outputs."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith(("running_mean", "running_var")):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif "kernel_transforms" in name:
                tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.1)


def _tiny(**overrides) -> OFAMobileNetV3:
    settings = {"kernel_size_list": [3, 5], "expand_ratio_list": [2, 4], "depth_list": [1, 2], "width_mult": 0.25}
    return OFAMobileNetV3(**{**settings, "num_classes": 10, "in_channels": 1, "dropout_rate": 0.0, **overrides})


# -- the architecture against the original implementation ---------------------------------------
def test_supernet_has_the_reference_parameter_count(supernet):
    assert _params(supernet) == REFERENCE_SUPERNET_PARAMS


@pytest.mark.parametrize("setting", sorted(REFERENCE_SUBNET_PARAMS))
def test_subnet_parameter_counts_equal_the_original_implementation(supernet, setting):
    values, expected = REFERENCE_SUBNET_PARAMS[setting]
    arch = supernet.arch_for(**values)
    assert _params(supernet.build_subnet(arch)) == expected
    assert _params(OFAMobileNetV3(mask=arch)) == expected


def test_output_shapes(supernet):
    arch = supernet.arch_for(kernel_size=3, expand_ratio=3, depth=2)
    subnet = supernet.build_subnet(arch).eval()
    with torch.no_grad():
        assert subnet(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    small = _tiny(num_classes=7)
    SearchSpace.of(small).apply(small.arch_for())
    assert small(torch.randn(2, 1, 32, 32)).shape == (2, 7)


def test_depth_runs_the_first_blocks_and_the_subnet_keeps_only_those(supernet):
    arch = supernet.arch_for(depth=[2, 3, 4, 3, 2])
    subnet = supernet.build_subnet(arch)
    assert [len(stage) for stage in subnet.stages] == [2, 3, 4, 3, 2]
    assert all(isinstance(stage, nn.Sequential) for stage in subnet.stages)
    assert not [m for m in subnet.modules() if hasattr(m, "key")]  # no mutable left


def test_supernet_output_equals_the_extracted_subnet_in_eval_mode(supernet):
    _scramble(supernet)
    space = SearchSpace.of(supernet)
    rng = random.Random(0)
    images = torch.randn(1, 3, 64, 64)
    supernet.eval()
    for _ in range(3):
        arch = space.to_json(space.apply(space.sample(rng)))
        with torch.no_grad():
            expected = supernet(images)
            torch.testing.assert_close(supernet.build_subnet(arch).eval()(images), expected, atol=1e-5, rtol=1e-5)


def test_a_subnet_built_from_its_mask_has_its_architecture_and_size():
    torch.manual_seed(0)
    network = _tiny()
    space = SearchSpace.of(network)
    arch = space.to_json(space.sample(random.Random(3)))
    fixed = _tiny(mask=arch)
    assert fixed.arch == arch
    assert _params(fixed) == _params(network.build_subnet(arch))
    assert fixed(torch.randn(2, 1, 32, 32)).shape == (2, 10)


# -- bad architectures -------------------------------------------------------------------------------
def test_values_outside_the_lists_name_the_key(supernet):
    with pytest.raises(ValueError, match=r"'stage1\.block0\.kernel' = 9 is not one of \[3, 5, 7\]"):
        supernet.arch_for(kernel_size=9)
    with pytest.raises(ValueError, match=r"'stage3\.depth' = 5"):
        supernet.arch_for(depth=[2, 2, 5, 2, 2])
    with pytest.raises(ValueError, match=r"'stage1\.block0\.expand' = 5"):
        supernet.arch_for(expand_ratio=5)


def test_a_decision_outside_the_lists_names_the_key(supernet):
    arch = supernet.arch_for()
    with pytest.raises(ValueError, match=r"stage2\.block1\.kernel"):
        OFAMobileNetV3(mask={**arch, "stage2.block1.kernel": 3})  # an index: 3 candidates
    with pytest.raises(ValueError, match=r"stage4\.depth"):
        supernet.build_subnet({**arch, "stage4.depth": 7})


def test_a_fixed_subnet_refuses_a_deeper_stage_by_its_key():
    shallow = _tiny(mask=_tiny().arch_for(depth=1))
    SearchSpace.of(shallow).apply({**shallow.arch, "stage2.depth": 1})  # index 1: depth 2
    with pytest.raises(ValueError, match=r"'stage2\.depth' chose depth 2.*built with 1 blocks"):
        shallow(torch.randn(1, 1, 32, 32))


# -- progressive shrinking ------------------------------------------------------------------------
class _Log:
    def __init__(self) -> None:
        self.phase = None

    def info(self, event: str, **fields) -> None:
        if event == "ofa_phase":
            self.phase = fields["phase"]


class _Stop(BaseException):
    """Stands for a kill between two epochs."""


class _Context:
    def __init__(self, directory, *, resumed: bool = False, stop_after: int | None = None) -> None:
        self.directory, self.seed, self.resumed, self.device = directory, 0, resumed, "cpu"
        self.reports: list[tuple[int, dict]] = []
        self.log, self.stop_after = _Log(), stop_after
        directory.mkdir(parents=True, exist_ok=True)

    def state_path(self, name: str):
        return self.directory / name

    def report(self, epoch: int, metrics: dict) -> None:
        self.reports.append((epoch, dict(metrics)))
        if epoch == self.stop_after:
            raise _Stop


def test_the_schedule_follows_progressive_shrinking():
    phases = OFATrainer(largest_epochs=3, kernel_epochs=2, depth_epochs=1, expand_epochs=1).phases(OFAMobileNetV3())
    assert [(p.name, p.epochs, p.allowed, p.expand_stage) for p in phases] == [
        ("largest", 3, {}, None),
        ("kernel", 2, {"kernel": [3, 5, 7]}, None),
        ("depth", 1, {"kernel": [3, 5, 7], "depth": [3, 4]}, None),
        ("depth", 1, {"kernel": [3, 5, 7], "depth": [2, 3, 4]}, None),
        ("expand", 1, {"kernel": [3, 5, 7], "depth": [2, 3, 4], "expand": [4, 6]}, 0),
        ("expand", 1, {"kernel": [3, 5, 7], "depth": [2, 3, 4], "expand": [3, 4, 6]}, 1),
    ]


def test_fit_trains_each_phase_on_its_own_subnets(tmp_path):
    torch.manual_seed(0)
    data = digits(resize=32, batch_size=256)
    network = _tiny()
    lists = {"kernel": network.kernel_size_list, "depth": network.depth_list, "expand": network.expand_ratio_list}
    context = _Context(tmp_path)
    seen: dict[str, set] = {}

    def record(module, inputs):
        if module is not network:
            return  # the teacher: a plain copy of the largest subnet (hooks are copied along)
        arch = module.arch
        for dimension, keys in module.elastic_keys.items():
            values = {lists[dimension][arch[key]] for key in keys}
            seen.setdefault(context.log.phase, {}).setdefault(dimension, set()).update(values)

    network.register_forward_pre_hook(record)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    OFATrainer(largest_epochs=1, kernel_epochs=1, depth_epochs=1, expand_epochs=1, lr=0.05).fit(
        network, None, data, context
    )
    assert seen == {
        "largest": {"kernel": {5}, "depth": {2}, "expand": {4}},
        "kernel": {"kernel": {3, 5}, "depth": {2}, "expand": {4}},
        "depth": {"kernel": {3, 5}, "depth": {1, 2}, "expand": {4}},
        "expand": {"kernel": {3, 5}, "depth": {1, 2}, "expand": {2, 4}},
    }
    assert [epoch for epoch, _ in context.reports] == [0, 1, 2, 3]
    assert all(metrics["train_loss"] > 0 for _, metrics in context.reports)
    transform = "stages.0.blocks.0.depth_conv.0.kernel_transforms.5to3"
    assert not torch.equal(network.state_dict()[transform], before[transform])  # trained by the kernel phase
    assert all(m.decision is None for m in SearchSpace.of(network).mutables())  # decisions restored
    assert (tmp_path / "ofa_supernet.pt").is_file()


def test_only_the_largest_phase_leaves_the_kernel_transforms_untouched(tmp_path):
    torch.manual_seed(0)
    network = _tiny()
    OFATrainer(largest_epochs=1, kernel_epochs=0, depth_epochs=0, expand_epochs=0).fit(
        network, None, digits(resize=32, batch_size=256), _Context(tmp_path)
    )
    assert torch.equal(network.stages[0].blocks[0].depth_conv[0].kernel_transforms["5to3"], torch.eye(9))


@pytest.mark.parametrize("stop_after", [1, 2])  # inside the phases; just before the expand phase (its channel sort)
def test_a_resumed_progressive_shrinking_ends_with_the_uninterrupted_weights(tmp_path, stop_after):
    from hyperbox.nas.datasets import synthetic

    data = synthetic(num_samples=48, num_classes=4, input_shape=(1, 32, 32), seed=0, val_fraction=0, test_fraction=0)
    trainer = OFATrainer(largest_epochs=1, kernel_epochs=1, depth_epochs=1, expand_epochs=1, batch_size=16)
    assert [phase.name for phase in trainer.phases(_tiny())] == ["largest", "kernel", "depth", "expand"]
    torch.manual_seed(0)
    whole = _tiny(num_classes=4)
    trainer.fit(whole, None, data, _Context(tmp_path / "whole"))
    torch.manual_seed(0)
    with pytest.raises(_Stop):
        trainer.fit(_tiny(num_classes=4), None, data, _Context(tmp_path / "stopped", stop_after=stop_after))
    torch.manual_seed(123)  # a new process: its generators start elsewhere
    resumed, context = _tiny(num_classes=4), _Context(tmp_path / "stopped", resumed=True)
    trainer.fit(resumed, None, data, context)
    assert [epoch for epoch, _ in context.reports] == list(range(stop_after + 1, 4))
    expected = whole.state_dict()
    assert all(torch.equal(tensor, expected[name]) for name, tensor in resumed.state_dict().items())


def test_soft_cross_entropy_is_the_cross_entropy_to_the_teacher_distribution():
    logits, teacher = torch.randn(4, 10), torch.randn(4, 10)
    expected = -(teacher.softmax(1) * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(soft_cross_entropy(logits, teacher), expected)
    sharp = 4.0 * (teacher.div(4.0).softmax(1) * -logits.div(4.0).log_softmax(1)).sum(1).mean() * 4.0
    torch.testing.assert_close(soft_cross_entropy(logits, teacher, temperature=4.0), sharp)


def test_channel_sorting_keeps_the_function_and_puts_important_channels_first():
    torch.manual_seed(0)
    network = _tiny(expand_ratio_list=[2, 3, 4])
    _scramble(network)
    SearchSpace.of(network).apply(network.arch_for())
    network.eval()
    images = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = network(images)
        network.sort_middle_channels(0)
        torch.testing.assert_close(network(images), expected, atol=1e-5, rtol=1e-5)
    importance = network.stages[2].blocks[1].point_linear[0].weight.abs().sum(dim=(0, 2, 3))
    assert torch.all(importance[:-1] >= importance[1:])
    # expand stage 1: the channels of the width already trained (ratio 3) stay that width's, even
    # when they become the least important
    block = network.stages[2].blocks[1]
    narrower = sorted(network.stages[2].choices[1].middle.candidates)[1]
    point_linear = block.point_linear[0].weight
    with torch.no_grad():
        point_linear[:, :narrower] *= 0.01
    kept = set(point_linear[0, :narrower, 0, 0].tolist())
    network.sort_middle_channels(1)
    assert set(point_linear[0, :narrower, 0, 0].tolist()) == kept
    network.sort_middle_channels(0)
    assert set(point_linear[0, -narrower:, 0, 0].tolist()) == kept


# -- the example ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_digits_example_trains_searches_and_writes_the_subnet(tmp_path):
    from hyperbox.kernel.compose import build_search
    from hyperbox.kernel.config import load_experiment

    overrides = ["budget.trials=3", "mutator.population_size=2", "trainer.largest_epochs=1",
                 "trainer.kernel_epochs=1", "trainer.depth_epochs=1", "trainer.expand_epochs=1",
                 f"output_dir={tmp_path / 'runs'}"]  # fmt: skip
    experiment = load_experiment(EXAMPLES / "ofa_digits.yaml", overrides)
    summary = build_search(experiment, console=False, progress=False).run().to_json()
    assert summary["status"] == "complete" and summary["complete"] == 3
    best = summary["best"]
    assert best["metrics"]["flops"] <= experiment.mutator.args["constraints"]["flops"]
    directory = Path(summary["directory"])
    arch = json.loads((directory / "best_arch.json").read_text())
    assert arch == best["arch"]
    space_args = {**experiment.space.args, "num_classes": 10, "in_channels": 1}
    subnet = OFAMobileNetV3(**space_args).build_subnet(arch)
    subnet.load_state_dict(torch.load(directory / "best_weights.pt", weights_only=True))  # strict


def test_arch_size_reports_the_subnets_params_and_flops():
    from hyperbox.nas.estimators import FlopsEstimator, ParamsEstimator

    network = OFAMobileNetV3(
        width_mult=0.25, num_classes=10, kernel_size_list=[3, 5], expand_ratio_list=[2, 4], depth_list=[1, 2]
    )
    arch = network.arch_for(kernel_size=3, expand_ratio=2, depth=1)
    size = network.arch_size((3, 32, 32), arch)
    subnet = network.build_subnet(arch)
    assert size == {**ParamsEstimator()(subnet), **FlopsEstimator(input_shape=(3, 32, 32))(subnet)}
    assert size["params"] < network.arch_size((3, 32, 32), network.arch_for(5, 4, 2))["params"]


class TestOFATrainerConformance(TrainerTestCase):
    """The progressive-shrinking trainer honours the kernel's trainer contract."""

    def create_trainer(self):
        return OFATrainer(largest_epochs=1, kernel_epochs=0, depth_epochs=0, expand_epochs=0, subnets_per_step=1)

    def create_space(self):
        return _tiny()

    def create_data(self):
        return digits(resize=32, batch_size=256)


def test_augment_reaches_the_training_batches_only(tmp_path):
    seen = []

    def record(images):
        seen.append(images.shape[0])
        return images

    data = digits(resize=32, batch_size=256)
    OFATrainer(largest_epochs=1, kernel_epochs=0, depth_epochs=0, expand_epochs=0, augment=record).fit(
        _tiny(), None, data, _Context(tmp_path)
    )
    assert sum(seen) == len(data.train) - len(data.train) % 256  # one epoch of full training batches
