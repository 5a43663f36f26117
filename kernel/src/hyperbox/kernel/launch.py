"""One training spread over several processes (``hbk run --nproc N``), started by torchrun.

``hbk run EXPERIMENT --nproc N`` checks the experiment, then hands it to PyTorch's own launcher,
``python -m torch.distributed.run --standalone --nproc-per-node N -m hyperbox.kernel run ...``,
which starts N processes and their rendezvous. On one machine the ranks talk over loopback
(``GLOO_SOCKET_IFNAME``/``NCCL_SOCKET_IFNAME=lo`` unless set); torchrun's own key-value stores
(``TCPStore``) listen on every interface, on free ports, for as long as the run lasts. Across
machines, start it with ``torchrun`` yourself (``--nnodes``, ``--rdzv-endpoint``, ...). In every
process torchrun sets ``RANK`` and ``WORLD_SIZE``: rank 0 runs the search and writes the run
directory, the other ranks follow its trainings (see :meth:`hyperbox.kernel.Search.follow`) and write nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["distributed_rank", "launch", "torchrun_command"]

#: the network interface gloo and nccl connect the ranks of ``--nproc`` through
LOOPBACK = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME")


def distributed_rank() -> int | None:
    """This process's rank when torchrun started it as one of several, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return int(os.environ.get("RANK", "0"))
    return None


def torchrun_command(nproc: int, run_args: Sequence[str]) -> list[str]:
    """The command that runs ``hbk run RUN_ARGS`` in ``nproc`` processes on this machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a rendezvous of its own on this machine, on a free port
        f"--nproc-per-node={nproc}",
        "-m",
        "hyperbox.kernel",
        "run",
        *run_args,
    ]


def launch(nproc: int, run_args: Sequence[str]) -> int:
    """Run ``hbk run RUN_ARGS`` in ``nproc`` processes; returns torchrun's exit code."""
    from hyperbox.kernel.plugins import get_manager
    from hyperbox.kernel.workers import worker_environment

    env = worker_environment(nproc, get_manager().disabled)  # the cores split between the processes
    for variable in LOOPBACK:
        env.setdefault(variable, "lo")  # the ranks of one machine talk over loopback
    return subprocess.call(torchrun_command(nproc, run_args), env=env)
