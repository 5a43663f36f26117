"""A plugin that registers a name the toy plugin registers too."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_spaces(register):
    register("toy_space", "hbk_dup:whatever")
