"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_concepts_example_runs(capsys):
    block = next(b for b in python_blocks() if "build_subnet" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert "[torch.Size([32, 3, 5, 5])]" in capsys.readouterr().out
    assert set(namespace["arch"]) == {"conv_op"}
    assert not any(hasattr(m, "domain") for m in namespace["subnet"].modules())


def test_write_a_plugin_code_matches_the_example_package():
    example = README.parent / "examples" / "hyperbox-plugin-hillclimb" / "src" / "hyperbox_hillclimb"
    shipped = (example / "plugin.py").read_text()
    block = next(b for b in python_blocks() if "hyperbox_register_mutators" in b)
    assert block.strip() in shipped


def test_write_a_plugin_mutator_passes_the_conformance_suite():
    from hyperbox.kernel.testing import MutatorTestCase

    block = next(b for b in python_blocks() if "class HillClimbMutator" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    suite = type("Suite", (MutatorTestCase,), {"mutator_factory": namespace["HillClimbMutator"]})()
    tests = [name for name in dir(suite) if name.startswith("test_")]
    assert len(tests) == len([name for name in dir(MutatorTestCase) if name.startswith("test_")]) >= 10
    for name in tests:
        getattr(suite, name)()  # each raises on a broken contract
