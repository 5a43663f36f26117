"""Bad input: one line on stderr, a non-zero exit, no traceback, no run directory."""

import json
from collections.abc import Mapping

import pytest
import yaml

from hyperbox.kernel import ConfigError
from hyperbox.kernel.config import apply_overrides, check_arguments, yaml_load

GOOD = {
    "dataset": "toy_data",
    "space": {"name": "toy_space", "width": 3},
    "mutator": "toy_random",
    "trainer": "toy_trainer",
    "estimators": ["toy_score"],
    "budget": {"trials": 1},
}


def _fails_cleanly(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("dataset: [unclosed", ["exp.yaml", "malformed YAML", "line"]),
        ("- just\n- a list", ["exp.yaml", "must be a mapping"]),
        (
            yaml.safe_dump({**GOOD, "mutator": "toy_randm"}),
            ["exp.yaml: mutator", "unknown mutator 'toy_randm'", "did you mean 'toy_random'"],
        ),
        (
            yaml.safe_dump({**GOOD, "space": {"name": "toy_space", "widht": 3}}),
            ["exp.yaml: space.widht", "unknown argument", "allowed: width"],
        ),
        (
            yaml.safe_dump({**GOOD, "space": {"name": "toy_space", "width": "wide"}}),
            ["exp.yaml: space.width", "expected int", "'wide'"],
        ),
        (
            yaml.safe_dump({**GOOD, "trainer": {"name": "toy_trainer", "sleep": "long"}}),
            ["trainer.sleep", "expected float"],
        ),
        (yaml.safe_dump({**GOOD, "budget": {"trials": 0}}), ["budget.trials", "positive integer"]),
        (yaml.safe_dump({**GOOD, "spaec": 1}), ["unknown key 'spaec'"]),
        (yaml.safe_dump({k: v for k, v in GOOD.items() if k != "trainer"}), ["missing key 'trainer'"]),
        (yaml.safe_dump({**GOOD, "objective": "loss"}), ["objective 'loss' is not measured", "accuracy"]),
        ("!!python/object/apply:os.system ['echo pwned']", ["malformed YAML"]),
        (
            yaml.safe_dump({**GOOD, "hparams": {"space.width": [1, 2]}}),
            ["hparams.space.width", "expected 'trainer.<argument>'"],
        ),
        (yaml.safe_dump({**GOOD, "hparams": {"trainer.epoch": [1, 2]}}), ["hparams.trainer.epoch", "unknown argument"]),
        (
            yaml.safe_dump({**GOOD, "hparams": {"trainer.epochs": {"type": "int", "low": 3}}}),
            ["hparams", "'trainer.epochs'", "missing 'high'"],
        ),
    ],
)
def test_bad_experiment_files(toy_site, tmp_path, hbk, text, fragments):
    site = toy_site("toy")
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    result = hbk("run", str(path), f"output_dir={tmp_path / 'runs'}", "-q", site=site, cwd=tmp_path)
    _fails_cleanly(result, *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_missing_file(hbk, tmp_path):
    _fails_cleanly(hbk("run", str(tmp_path / "nope.yaml")), "nope.yaml: no such experiment file")


def test_debug_shows_the_traceback(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    result = hbk("--debug", "run", str(tmp_path / "nope.yaml"), site=site)
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize(
    "arch, fragments",
    [
        ({"op": 1, "depth": 2}, ["missing key(s) ['lr']"]),
        ({"op": 1, "depth": 2, "lr": 0.01, "width": 3}, ["unknown key(s) ['width']"]),
        ({"op": [0, 1], "depth": 2, "lr": 0.01}, ["'op'", "length 2, expected 3"]),
    ],
)
def test_architecture_that_does_not_match_the_space(toy_site, tmp_path, hbk, arch, fragments):
    site = toy_site("toy")
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "mutator": {"name": "fixed", "arch": str(tmp_path / "arch.json")}}))
    result = hbk("run", str(path), f"output_dir={tmp_path / 'runs'}", site=site)
    _fails_cleanly(result, "arch.json", *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_overrides_set_nested_keys_and_parse_scalars():
    data = apply_overrides(GOOD, ["space.width=5", "mutator.seed_offset=0.5", "trainer=other", "budget.trials=3"], "x")
    assert data["space"] == {"name": "toy_space", "width": 5}
    assert data["mutator"] == {"name": "toy_random", "seed_offset": 0.5}
    assert data["trainer"] == "other" and data["budget"]["trials"] == 3
    assert GOOD["space"]["width"] == 3  # the loaded data is not modified
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        apply_overrides(GOOD, ["space.width"], "x")


def test_overrides_reach_vegas_sections_and_keep_dotted_hyper_parameters_whole():
    vega = {
        "search_algorithm": {"type": "toy_random"},
        "search_space": {"type": "toy_space", "hyper_parameters": {"layer.doublechannel": [0, 1]}},
    }
    overrides = ["mutator.seed_offset=0.5", "space.hyper_parameters.layer.doublechannel=[1, 0]", "space.name=other"]
    data = apply_overrides(vega, overrides, "x")
    assert "mutator" not in data and "space" not in data
    assert data["search_algorithm"] == {"type": "toy_random", "seed_offset": 0.5}
    assert data["search_space"] == {"type": "other", "hyper_parameters": {"layer.doublechannel": [1, 0]}}
    plain = apply_overrides({"space": {"name": "s"}}, ["space.hyper_parameters.head.num_class=[10, 100]"], "x")
    assert plain["space"]["hyper_parameters"] == {"head.num_class": [10, 100]}


def test_check_arguments_understands_annotations():
    def factory(a: int, b: float = 1.0, c: str | None = None, d: list[int] | None = None, *, e: bool = False):
        pass

    check_arguments(factory, {"a": 1, "b": 2, "c": None, "d": [1], "e": True}, "f")
    for bad, message in [
        ({"a": 1.5}, "f.a: expected int"),
        ({"a": 1, "e": "yes"}, "f.e: expected bool"),
        ({"a": 1, "d": 3}, "f.d: expected list"),
        ({}, "missing argument 'a'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_arguments(factory, bad, "f")


def test_containers_are_checked_item_by_item_naming_the_key_path():
    def factory(
        milestones: list[int] | None = None,
        shape: tuple[int, int] = (1, 1),
        sizes: tuple[int, ...] = (),
        widths: Mapping[str, float] | None = None,
    ):
        pass

    check_arguments(factory, {"milestones": [1, 2], "shape": [3, 4], "sizes": [1, 2, 3], "widths": {"a": 1}}, "t")
    for bad, message in [
        ({"milestones": [1, "a"]}, r"^t\.milestones\[1\]: expected int, got 'a'$"),
        ({"shape": [3, 4, 5]}, r"^t\.shape: expected 2 items, got 3$"),
        ({"sizes": [1, 2.5]}, r"^t\.sizes\[1\]: expected int, got 2\.5$"),
        ({"widths": {"a": "wide"}}, r"^t\.widths\.a: expected float, got 'wide'$"),
        ({"milestones": "1,2"}, r"^t\.milestones: expected list or null, got '1,2'$"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_arguments(factory, bad, "t")


@pytest.mark.parametrize("written, value", [("1e-3", 0.001), ("1.0e6", 1e6), ("-2E+2", -200.0), (".5e1", 5.0)])
def test_floats_in_exponent_form_are_floats_in_files_and_overrides(written, value):
    assert yaml_load(f"lr: {written}") == {"lr": value}
    assert apply_overrides(GOOD, [f"trainer.lr={written}"], "x")["trainer"]["lr"] == value
    assert yaml_load("version: 1e3x") == {"version": "1e3x"} and yaml_load("n: 12") == {"n": 12}


def test_a_bad_item_in_an_override_names_it(toy_site, tmp_path, hbk):
    site = toy_site("toy")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    result = hbk("run", str(path), "trainer.epochs=1e0", site=site, cwd=tmp_path)
    assert result.returncode == 2 and "trainer.epochs: expected int, got 1.0" in result.stderr


def test_hparams_entries_can_be_overridden_whole():
    data = apply_overrides({**GOOD, "hparams": {"trainer.epochs": [1, 2]}}, ["hparams.trainer.epochs=[2, 3]"], "x")
    assert data["hparams"] == {"trainer.epochs": [2, 3]}


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ({"type": "float", "low": 1, "high": 2}, ["hparams.trainer", "epochs", "expected int"]),
        ({"type": "int", "low": -1, "high": 2}, ["hparams.trainer.epochs=-1", "must not be negative"]),
    ],
)
def test_every_value_hparams_may_draw_must_suit_the_trainer(toy_site, tmp_path, hbk, spec, fragments):
    site = toy_site("toy")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "hparams": {"trainer.epochs": spec}}))
    result = hbk("run", str(path), f"output_dir={tmp_path / 'runs'}", "-q", site=site)
    _fails_cleanly(result, *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
