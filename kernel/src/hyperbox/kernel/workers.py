"""Local worker processes of one run (``hbk run --workers N``).

The coordinating process has created the run directory and the shared study; it starts N
``hbk worker`` processes on them, waits, and writes the summary of every worker's trials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from hyperbox.kernel.errors import HyperboxError

#: Where ``hbk worker`` finds the storage URL when ``--storage`` is not given (keeps passwords
#: off the process list).
STORAGE_ENV = "HBK_STORAGE"


def worker_environment(count: int, disabled: set[str]) -> dict[str, str]:
    """The workers' environment: the cores split between them, unless the user chose a thread
    count (torch and BLAS read these at start-up), and the coordinator's blocked plugins."""
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // count))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS") or threads}
    if disabled:
        env["HBK_DISABLE_PLUGINS"] = ",".join(sorted(disabled))
    return env


def run_workers(search: Any, count: int, *, verbosity: int) -> Any:
    """Run ``search``'s trials (a search on a shared storage) in ``count`` local worker processes,
    which share its run directory; returns its result."""
    from hyperbox.kernel.plugins import get_manager

    search.start()  # creates the run directory and the shared study the workers join
    env = worker_environment(count, get_manager().disabled)
    env[STORAGE_ENV] = search.storage_url
    command = [
        sys.executable,
        "-m",
        "hyperbox.kernel.cli",
        "worker",
        "--study",
        search.study_name,
        "--run-dir",
        str(search.directory),
        *({0: ["-q"], 1: [], 2: ["-v"]}[verbosity]),
    ]
    search.log.info("workers_start", count=count, study=search.study_name, threads=env["OMP_NUM_THREADS"])
    processes = [subprocess.Popen([*command, "--index", str(index)], env=env) for index in range(count)]
    status = "complete"
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:  # Ctrl-C reached the workers too; SIGTERM (kill, a scheduler) only this process
        status = "interrupted"
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # a worker stops as it does on Ctrl-C: resumably
        for process in processes:
            process.wait()
        raise
    finally:
        failed = status == "complete" and [code for code in codes if code != 0]
        result = search.close("failed" if failed else status)
    if failed:
        raise HyperboxError(
            f"{len(failed)} of {count} workers failed (exit codes {failed}); see {search.directory / 'events.jsonl'}"
        )
    return result
