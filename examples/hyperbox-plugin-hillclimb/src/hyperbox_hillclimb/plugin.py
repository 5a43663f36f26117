"""Registration only: the mutator module is imported when an experiment uses it."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_mutators(register):
    register("hillclimb", "hyperbox_hillclimb.mutator:HillClimbMutator", help="Hill climbing from the best so far.")
