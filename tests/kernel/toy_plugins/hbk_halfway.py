"""A plugin that registers a space, then fails while registering its mutators."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_spaces(register):
    register("halfway_space", "hbk_halfway:space")


@hookimpl
def hyperbox_register_mutators(register):
    register("halfway_mutator", "hbk_halfway:mutator")
    raise RuntimeError("failed halfway")
