"""Fixed baselines on every trainer: Kornia's AutoAugment, RandAugment, TrivialAugment or a policy file."""

from __future__ import annotations

import pytest
import torch

from hyperbox.ada import AugmentationPolicy
from hyperbox.kernel import ConfigError, SearchSpace, search

torch.set_num_threads(1)
DATA = {"name": "digits", "batch_size": 128}


@pytest.mark.parametrize("name", ["autoaugment", "randaugment", "trivialaugment"])
def test_each_baseline_trains_grey_digits(name):
    """Kornia's policies hold `color`, which needs 3 channels: it is left out, never a crash."""
    trainer = {"name": "standalone", "epochs": 1, "augment": name}
    result = search("digits_cnn", "random", trainer=trainer, dataset=DATA, estimators=["accuracy"], budget=1)
    assert result.best.metrics["accuracy"] > 0.1


@pytest.mark.parametrize("trainer", ["oneshot", "darts"])
def test_the_weight_sharing_trainers_take_a_baseline_too(trainer):
    mutator = "darts" if trainer == "darts" else "random"
    spec = {"name": trainer, "epochs": 1, "augment": {"name": "randaugment", "n": 1, "m": 5}}
    result = search("digits_cnn", mutator, trainer=spec, dataset=DATA, estimators=["accuracy"], budget=1)
    assert result.best.metrics["accuracy"] >= 0


def test_augment_reaches_training_batches_only():
    seen = []

    def record(images):
        seen.append(images.shape[0])
        return images

    from hyperbox.nas.datasets import digits
    from hyperbox.nas.demo_space import DigitsCNNSpace
    from hyperbox.nas.trainers import StandaloneTrainer

    data = digits(batch_size=512)
    trainer = StandaloneTrainer(epochs=1, augment=record)
    result = search(DigitsCNNSpace(), "random", trainer=trainer, dataset=data, estimators=["accuracy"], budget=1)
    assert result.best is not None and sum(seen) == len(data.train) - len(data.train) % 512


def test_a_found_policy_file_is_an_augment(tmp_path):
    policy = AugmentationPolicy(ops=["rotate", "contrast"], n_subpolicies=2, in_channels=1)
    SearchSpace.of(policy).apply({key: 0 for key in SearchSpace.of(policy)})
    policy.save(tmp_path / "policy.json")
    trainer = {"name": "standalone", "epochs": 1, "augment": str(tmp_path / "policy.json")}
    assert search("digits_cnn", "random", trainer=trainer, dataset=DATA, estimators=["accuracy"], budget=1).best


def test_a_policy_for_colour_images_is_refused_for_grey_digits(tmp_path):
    policy = AugmentationPolicy(ops=["color"], n_subpolicies=1, in_channels=3)
    SearchSpace.of(policy).apply({key: 0 for key in SearchSpace.of(policy)})
    policy.save(tmp_path / "rgb.json")
    trainer = {"name": "standalone", "augment": str(tmp_path / "rgb.json")}
    with pytest.raises(ConfigError, match=r"trainer\.augment 'policy': .*rgb\.json: a policy for 3-channel data"):
        search("digits_cnn", "random", trainer=trainer, dataset=DATA, estimators=["accuracy"], budget=1)


def test_bad_baseline_arguments_are_one_line_errors():
    trainer = {"name": "standalone", "augment": {"name": "autoaugment", "policy": "mnist"}}
    with pytest.raises(ConfigError, match=r"policy='mnist' must be one of imagenet, cifar10, svhn"):
        search("digits_cnn", "random", trainer=trainer, dataset=DATA, estimators=["accuracy"], budget=1)


@pytest.mark.parametrize("name", ["autoaugment", "randaugment"])  # Kornia's TrivialAugment has no `color`
def test_kornias_colour_operation_is_left_out_for_grey_images_only(name):
    from kornia.augmentation.auto.operations import Saturate

    from hyperbox.ada import baselines

    def saturates(module) -> bool:
        return any(isinstance(m, Saturate) for m in module.modules())

    assert saturates(getattr(baselines, name)(in_channels=3))  # Kornia's policies hold `color` (Saturate)
    assert not saturates(getattr(baselines, name)(in_channels=1))


@pytest.mark.parametrize("trainer", ["standalone", "oneshot", "darts"])
def test_every_trainer_augments_training_samples_and_nothing_else(trainer):
    from hyperbox.nas.datasets import synthetic

    data = synthetic(num_samples=160, num_classes=4, input_shape=(1, 8, 8), batch_size=32)
    training = {tuple(row.flatten().tolist()) for row in data.train.tensors[0]}
    augmented = []

    def record(images):
        augmented.extend(tuple(row.flatten().tolist()) for row in images)
        return images

    spec = {"name": trainer, "epochs": 1, "augment": record}
    mutator = "darts" if trainer == "darts" else "random"
    assert search("digits_cnn", mutator, trainer=spec, dataset=data, estimators=["accuracy"], budget=1).best
    assert augmented and set(augmented) <= training  # no validation or test sample
