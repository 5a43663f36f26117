"""Entry point of the networks plugin: registration only, light imports."""

from hyperbox.kernel import hookimpl  # noqa: F401  (used by the registration hooks below)
