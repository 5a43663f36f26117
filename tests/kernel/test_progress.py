"""The progress bar stays below the lines logged while it runs, other libraries' lines included."""

import io
import logging
import sys

from rich.console import Console

from hyperbox.kernel.progress import TrialProgress


def test_a_librarys_log_lines_print_above_the_progress_bar_and_its_handler_is_restored():
    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=100)
    handler = logging.StreamHandler(sys.stderr)
    logger = logging.getLogger("a-library")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        progress = TrialProgress("accuracy", 3, console=console)
        logger.warning("a line from a library")
        progress.close()
    finally:
        logger.removeHandler(handler)
    assert handler.stream is sys.stderr  # put back
    shown = terminal.getvalue()
    assert "a line from a library" in shown
    assert shown.index("a line from a library") < shown.rindex("trials")  # the bar is drawn again below it
