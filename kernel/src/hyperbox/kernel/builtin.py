"""The kernel's internal plugin: built-in commands, the ``fixed`` mutator and the ``hparams``
space, registered through the same hooks as any plugin."""

from hyperbox.kernel.hookspecs import hookimpl


@hookimpl
def hyperbox_register_commands(register):
    register("run", "hyperbox.kernel.commands:run_command", help="Run an experiment (no file: the quick demo).")
    register("plugins", "hyperbox.kernel.commands:plugins_command", help="List installed plugins.")
    register("list", "hyperbox.kernel.commands:list_command", help="List registered components.")
    register("worker", "hyperbox.kernel.commands:worker_command", help="Join a run's shared study as a worker.")
    register("show", "hyperbox.kernel.commands:show_command", help="Show a run's trials and best result.")
    register("export", "hyperbox.kernel.commands:export_command", help="Export a run's best architecture and weights.")


@hookimpl
def hyperbox_register_mutators(register):
    register("fixed", "hyperbox.kernel.fixed:FixedMutator", help="Evaluate one given architecture (no search).")


@hookimpl
def hyperbox_register_spaces(register):
    register(
        "hparams", "hyperbox.kernel.hparams:HyperParameters", help="Plain hyper-parameters declared in the experiment."
    )
