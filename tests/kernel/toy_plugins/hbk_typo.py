"""A plugin with a misspelt hook name."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_mutator(register):
    register("typo", "hbk_typo:x")
