"""dims: 3 searches policies over Kornia's 3-D augmentations, for (B, C, D, H, W) volumes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyperbox.ada import OPERATIONS_3D, AugmentationPolicy, load_policy
from hyperbox.kernel import ConfigError, SearchSpace, search
from hyperbox.nas.mutators import RandomMutator

torch.set_num_threads(1)


def volumes(n: int = 4) -> torch.Tensor:
    """A small synthesised volumetric set: a bright cube off-centre in each dark 8x8x8 volume."""
    data = torch.zeros(n, 1, 8, 8, 8)
    data[:, :, 1:4, 2:5, 3:6] = 1.0
    return data


@pytest.mark.parametrize("name", OPERATIONS_3D)
def test_every_3d_op_keeps_shape_and_changes_the_volume(name):
    for magnitude in (0, 9):
        policy = AugmentationPolicy(
            ops=[name], n_subpolicies=1, ops_per_subpolicy=1, magnitudes=[magnitude], probabilities=[1.0], dims=3
        )
        SearchSpace.of(policy).apply({key: 0 for key in SearchSpace.of(policy)})
        out = policy(volumes())
        assert out.shape == (4, 1, 8, 8, 8)
        if name != "equalize":  # equalising a two-level volume keeps it
            assert not torch.allclose(out, volumes())


def test_a_searched_3d_policy_travels(tmp_path):
    policy = AugmentationPolicy(n_subpolicies=2, dims=3, in_channels=1)
    RandomMutator(policy, seed=0).reset()
    policy.save(tmp_path / "policy.json")
    loaded = load_policy(tmp_path / "policy.json", input_shape=(1, 8, 8, 8))
    assert type(loaded).__name__ == "VolumePolicy" and loaded.policy == policy.kornia_policy()
    torch.manual_seed(0)
    expected = policy(volumes())
    torch.manual_seed(0)
    assert torch.equal(loaded(volumes()), expected)
    with pytest.raises(ValueError, match=r"a policy for 3-D data; these samples have shape \(1, 8, 8\)"):
        load_policy(tmp_path / "policy.json", input_shape=(1, 8, 8))


def test_a_2d_name_in_a_3d_policy_names_the_closest_3d_op():
    with pytest.raises(ValueError, match=r"unknown op 'translate_x' \(did you mean 'translate'\?\)"):
        AugmentationPolicy(ops=["translate_x"], dims=3)


VOLUMES = {"name": "synthetic", "num_samples": 48, "num_classes": 2, "input_shape": (1, 6, 6, 6), "batch_size": 16}


def volume_space(**policy) -> dict:
    network = nn.Sequential(nn.Flatten(), nn.Linear(6 * 6 * 6, 2))
    return {"name": "augmented", "network": network, "policy": {"ops": ["rotate", "depthical_flip"], **policy}}


def test_a_policy_search_on_synthesised_volumes_takes_dims_from_the_data():
    trainer = {"name": "standalone", "epochs": 1}
    result = search(
        volume_space(n_subpolicies=1), "random", trainer=trainer, dataset=VOLUMES, estimators=["accuracy"], budget=2
    )
    assert [trial.state for trial in result.trials] == ["complete", "complete"]
    assert type(result.best_model().augmentation).__name__ == "VolumePolicy"


def test_a_2d_policy_for_volumes_is_a_one_line_error():
    with pytest.raises(
        ConfigError, match=r"policy dims=2 does not fit the data: samples of shape \(1, 6, 6, 6\) are 3-D"
    ):
        search(volume_space(dims=2), "random", trainer="standalone", dataset=VOLUMES, budget=1)


def test_crop_pads_each_axis_by_its_own_length_and_gates_each_volume():
    from hyperbox.ada.volumetric import PaddedCrop3D

    torch.manual_seed(0)
    flat = torch.zeros(64, 1, 4, 16, 16)  # thin in depth: padding depth as a side would crop the block away
    flat[:, :, 1:3, 6:10, 6:10] = 1.0
    cropped = PaddedCrop3D(0.3, 1.0)(flat)  # shifts of at most 1 voxel in depth, 5 in height and width
    assert torch.equal(cropped.flatten(1).sum(1), flat.flatten(1).sum(1))  # whole voxels, the block kept
    assert (cropped != flat).flatten(1).any(1).float().mean() > 0.5
    gated = PaddedCrop3D(0.3, 0.5)(flat)
    changed = (gated != flat).flatten(1).any(1)
    assert 0 < changed.sum() < 64  # each volume drawn on its own
