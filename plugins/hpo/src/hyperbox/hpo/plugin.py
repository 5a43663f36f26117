"""Entry point of the hpo plugin: registration only, light imports."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_mutators(register):
    register(
        "optuna",
        "hyperbox.hpo.mutator:OptunaMutator",
        help="Optuna study (TPE, CMA-ES, GP, QMC, NSGA-II/III, grid, ...) with pruners and shared storage",
    )
