"""Local worker processes of one run (``hbk run --workers N``).

The coordinating process has created the run directory and the shared study; it starts N
``hbk worker`` processes on them, waits, and writes the summary of every worker's trials. On a
machine with GPUs, a run on ``cuda`` gives each worker its own GPU (see :func:`worker_devices`).
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


def worker_devices(count: int, device: str, visible: str | None, gpus: int) -> list[str] | None:
    """Each worker's ``CUDA_VISIBLE_DEVICES``: for a run on ``cuda`` (or ``auto``) on a machine with GPUs,
    one GPU per worker, round-robin over the visible ones (``visible``, the coordinator's
    ``CUDA_VISIBLE_DEVICES``, else the ``gpus`` it sees), so that a worker's ``cuda`` is its own GPU.
    None: the environment stays as it is (the CPU, or a device the experiment names, ``cuda:1``)."""
    if device not in ("cuda", "auto"):
        return None
    ids = [i.strip() for i in visible.split(",") if i.strip()] if visible is not None else list(map(str, range(gpus)))
    if not ids:
        return None
    return [ids[index % len(ids)] for index in range(count)]


def _visible_gpus() -> int:
    """The GPUs torch sees, when the plugins that built the search imported it (the kernel never does)."""
    torch = sys.modules.get("torch")
    return torch.cuda.device_count() if torch is not None and torch.cuda.is_available() else 0


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
    devices = worker_devices(count, search.device, os.environ.get("CUDA_VISIBLE_DEVICES"), _visible_gpus())
    search.log.info("workers_start", count=count, study=search.study_name, threads=env["OMP_NUM_THREADS"], gpus=devices)
    processes = [
        subprocess.Popen(
            [*command, "--index", str(index)],
            env=env if devices is None else {**env, "CUDA_VISIBLE_DEVICES": devices[index]},
        )
        for index in range(count)
    ]
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
