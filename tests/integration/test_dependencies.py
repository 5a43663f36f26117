"""Plugins use the kernel's public names only, and reach the engine through its public API."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted((ROOT / "plugins").glob("*/src/hyperbox/**/*.py")) + sorted(
    (ROOT / "examples").glob("*/src/**/*.py")
)


def kernel_imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` of every ``from hyperbox.kernel... import name`` and ``import hyperbox.kernel...``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hyperbox.kernel"):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("hyperbox.kernel")]
    return found


def test_no_plugin_imports_a_private_kernel_name_or_the_runner():
    offending = [
        (str(path.relative_to(ROOT)), module, name)
        for path in PLUGIN_SOURCES
        for module, name in kernel_imports(path)
        if any(part.startswith("_") or part == "runner" for part in module.split(".")) or name.startswith("_")
    ]
    assert offending == []


def test_the_check_sees_the_plugins_imports():
    imports = {module for path in PLUGIN_SOURCES for module, _ in kernel_imports(path)}
    assert {"hyperbox.kernel", "hyperbox.kernel.compose", "hyperbox.kernel.trial"} <= imports
