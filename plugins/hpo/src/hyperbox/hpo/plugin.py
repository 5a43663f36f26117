"""Entry point of the hpo plugin: registration only, light imports."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_mutators(register):
    register(
        "optuna",
        "hyperbox.hpo.mutator:OptunaMutator",
        help="Optuna study (TPE, CMA-ES, GP, QMC, NSGA-II/III, grid, ...) with pruners and shared storage",
    )


@hookimpl
def hyperbox_register_storages(register):
    help = "Optuna study in a database: trials shared by workers on any machine (budget, heartbeats, retries)"
    for scheme in ("sqlite", "postgresql", "postgresql+psycopg", "mysql"):
        register(scheme, "hyperbox.hpo._ledger:OptunaLedger", help=help)


@hookimpl
def hyperbox_register_commands(register):
    register(
        "tune-lr", "hyperbox.hpo.tune_lr:tune_lr_command", help="autoHyper: the initial learning rate of an experiment."
    )
