import inspect
import json
import sys
from pathlib import Path

import pytest

from hyperbox.kernel import ConfigError, PluginError, UnknownComponentError, hookspecs
from hyperbox.kernel.plugins import PluginLoadWarning, PluginManager
from hyperbox.kernel.registry import KINDS


def test_toy_plugin_registers_every_kind(toy_site):
    toy_site("toy")
    manager = PluginManager()
    registry = manager.registry
    assert "toy_space" in registry.names("spaces")
    assert "toy_random" in registry.names("mutators")
    assert "toy_data" in registry.names("datasets")
    assert "toy" in registry.names("commands")
    assert "ToyBlock" in registry.names("blocks")
    info = manager.plugins["toy"]
    assert (info.distribution, info.version, info.status) == ("hyperbox-plugin-toy", "1.0", "ok")
    assert info.registers["trainers"] == ["toy_trainer"]


def test_lazy_factories_are_imported_only_when_used(toy_site, monkeypatch):
    toy_site("marker")
    registry = PluginManager().registry
    component = registry.get("datasets", "marker_data")
    assert component.target == "hbk_marker:not_imported_until_used"
    with pytest.raises(AttributeError):
        component.load()


def test_broken_plugin_is_reported_and_others_work(toy_site):
    toy_site("toy", "broken")
    manager = PluginManager()
    with pytest.warns(PluginLoadWarning, match="'broken'.*broken on purpose"):
        registry = manager.registry
    assert manager.plugins["broken"].status == "broken"
    assert "RuntimeError" in manager.plugins["broken"].error
    assert "toy_space" in registry.names("spaces")


def test_strict_mode_makes_a_broken_plugin_fatal(toy_site, monkeypatch):
    toy_site("broken")
    with pytest.raises(PluginError, match="'broken' failed to load"):
        PluginManager(strict=True).registry
    monkeypatch.setenv("HBK_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        PluginManager().registry


def test_blocked_plugin_is_never_imported(toy_site, tmp_path, monkeypatch):
    toy_site("marker")
    marker = tmp_path / "imported"
    monkeypatch.setenv("HBK_MARKER_FILE", str(marker))
    manager = PluginManager(disabled=["marker"])
    assert "marker_data" not in manager.registry.names("datasets")
    assert manager.plugins["marker"].status == "disabled"
    assert not marker.exists() and "hbk_marker" not in sys.modules
    monkeypatch.setenv("HBK_DISABLE_PLUGINS", "toy, marker")
    PluginManager().registry
    assert not marker.exists()
    monkeypatch.delenv("HBK_DISABLE_PLUGINS")
    PluginManager().registry
    assert marker.exists()


def test_duplicate_names_name_both_plugins(toy_site):
    toy_site("toy", "dup")
    with pytest.raises(
        PluginError, match="'toy_space' is registered by both plugin '(toy|dup)' and plugin '(dup|toy)'"
    ):
        PluginManager().registry


def test_misspelt_hook_fails_loudly(toy_site):
    toy_site("typo")
    with pytest.raises(PluginError, match="typo.*hyperbox_register_mutator"):
        PluginManager().registry


def test_unknown_name_lists_names_and_closest_match(toy_site):
    toy_site("toy")
    with pytest.raises(
        UnknownComponentError,
        match=r"unknown mutator 'toy_randm'; registered: .*toy_random.*did you mean 'toy_random'\?",
    ):
        PluginManager().registry.get("mutators", "toy_randm")


def test_trace_writes_hook_calls(toy_site, monkeypatch, capsys):
    toy_site("toy")
    monkeypatch.setenv("HBK_TRACE_PLUGINS", "1")
    manager = PluginManager()
    manager.hook.hyperbox_run_end(run=None, summary={"trials": 0})
    assert "hyperbox_run_end" in capsys.readouterr().err


# -- meta-tests: every hook is documented, and tested somewhere in this suite ------------------

HOOKS = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("hyperbox_")]


def test_registration_hooks_cover_every_kind():
    assert {f"hyperbox_register_{kind}" for kind in KINDS} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc) > 40
    for argument in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert argument in doc or argument == "register" and "register(" in doc, (hook, argument)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_the_toy_plugin_and_exercised(hook):
    toy = (Path(__file__).parent / "toy_plugins" / "hbk_toy.py").read_text()
    assert f"def {hook}(" in toy
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    event = hook.removeprefix("hyperbox_")
    assert event in tests or hook.startswith("hyperbox_register_")


def test_a_plugin_failing_in_registration_keeps_nothing(toy_site):
    toy_site("toy", "halfway")
    manager = PluginManager()
    with pytest.warns(PluginLoadWarning, match="failed halfway"):
        registry = manager.registry
    assert manager.plugins["halfway"].status == "broken"
    assert manager.plugins["halfway"].registers == {}
    assert "halfway_space" not in registry.names("spaces")
    assert "halfway_mutator" not in registry.names("mutators")
    assert "toy_space" in registry.names("spaces")


def test_plugins_build_and_export_the_models_they_know(toy_site, tmp_path):
    toy_site("toy")
    from hyperbox.kernel.testing import ToySpace

    hook = PluginManager().hook
    subnet = hook.hyperbox_build_subnet(model=ToySpace([]), arch={"op": 1})
    assert subnet.arch == {"op": 1}
    path = hook.hyperbox_export_model(model=subnet, input_shape=(1, 8, 8), format="json", path=str(tmp_path / "m"))
    assert json.loads(Path(path).read_text()) == {"arch": {"op": 1}, "input_shape": [1, 8, 8]}
    assert hook.hyperbox_export_model(model=object(), input_shape=(1,), format="json", path="x") is None
    network, written = hook.hyperbox_export_parts(space=ToySpace([]), subnet=subnet, arch={"op": 1}, directory=tmp_path)
    assert network is subnet and json.loads(written[0].read_text()) == {"arch": {"op": 1}}
    assert hook.hyperbox_export_parts(space=None, subnet=object(), arch={}, directory=tmp_path) is None


def test_a_trainers_augment_argument_is_resolved_into_a_batch_transform(toy_site):
    toy_site("toy")
    from hyperbox.kernel.components import Resolver

    resolver = Resolver(lambda: PluginManager().registry)
    shape = {"in_channels": 3, "input_shape": (3, 4, 4)}
    trainer = resolver.trainer({"name": "toy_trainer", "augment": {"name": "toy_shift", "by": 2.0}}, shape=shape)
    assert trainer.augment([1.0]) == [3.0] and trainer.augment.in_channels == 3  # filled from the data
    assert resolver.trainer({"name": "toy_trainer", "augment": "none"}).augment is None
    searched = resolver.trainer({"name": "toy_trainer"}, arguments={"augment": "toy_shift"}, shape=shape)
    assert searched.augment([0.0]) == [1.0]  # a searched trainer argument resolves the same way


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        ("toy_shfit", r"trainer\.augment: unknown augmentation 'toy_shfit'.*did you mean 'toy_shift'"),
        ("", r"trainer\.augment: names nothing; write none for no augmentation"),
        (None, r"trainer\.augment: names nothing; write none for no augmentation"),
        ({"by": 1.0}, r"trainer\.augment: expected none.*got \{'by': 1\.0\}"),
        (3, r"trainer\.augment: expected none, an augmentation name"),
    ],
)
def test_an_augment_naming_nothing_is_a_one_line_error(toy_site, augment, message):
    toy_site("toy")
    from hyperbox.kernel.components import Resolver

    resolver = Resolver(lambda: PluginManager().registry)
    with pytest.raises(ConfigError, match=message) as raised:
        resolver.trainer({"name": "toy_trainer", "augment": augment})
    assert "\n" not in str(raised.value)
