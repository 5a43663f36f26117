"""Errors the kernel reports to users as one line (no traceback unless ``--debug``)."""


class HyperboxError(Exception):
    """A user-facing error: bad input, unknown names, invalid configs.

    The CLI prints ``str(error)`` on one line and exits non-zero.
    """


class ConfigError(HyperboxError, ValueError):
    """An experiment file, an override or a component argument is invalid."""


class UnknownComponentError(HyperboxError, KeyError):
    """A component name that no plugin registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class PluginError(HyperboxError):
    """A plugin failed to load, or two plugins registered the same name."""


class TrialPruned(Exception):
    """Raised inside a trial when the search algorithm asks to stop it early."""
