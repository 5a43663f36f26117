"""A plugin that leaves a mark when imported (to prove a blocked plugin is never imported)."""

import os

from hyperbox.kernel import hookimpl

if os.environ.get("HBK_MARKER_FILE"):
    open(os.environ["HBK_MARKER_FILE"], "w").close()


@hookimpl
def hyperbox_register_datasets(register):
    register("marker_data", "hbk_marker:not_imported_until_used")
