import pytest
import yaml

#: The toy plugin's experiment: one component of every kind, five trials of two epochs.
TOY_EXPERIMENT = {
    "name": "toy",
    "seed": 7,
    "dataset": "toy_data",
    "space": {"name": "toy_space", "width": 4},
    "mutator": "toy_random",
    "trainer": {"name": "toy_trainer", "epochs": 2},
    "estimators": ["toy_score"],
    "objective": "accuracy",
    "budget": {"trials": 5},
}


@pytest.fixture
def toy_experiment(tmp_path):
    """``toy_experiment(**changes)`` writes the toy experiment (runs under ``tmp_path/runs``) and
    returns its path."""

    def write(**changes):
        path = tmp_path / "toy.yaml"
        path.write_text(yaml.safe_dump({**TOY_EXPERIMENT, "output_dir": str(tmp_path / "runs"), **changes}))
        return path

    return write
