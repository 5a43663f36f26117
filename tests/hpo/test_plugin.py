"""The plugin entry point registers its components without importing Optuna or torch."""

import subprocess
import sys

from hyperbox.hpo import plugin


def test_entry_point_imports_neither_optuna_nor_torch():
    code = (
        "import sys, hyperbox.hpo.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('optuna', 'torch')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_registrations_load():
    registered = {}

    def register(name, factory, help=None):
        registered[name] = factory

    plugin.hyperbox_register_mutators(register)
    assert registered["optuna"] == "hyperbox.hpo.mutator:OptunaMutator"
