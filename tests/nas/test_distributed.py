"""Two processes on loopback (gloo): one step's gradients are those of one process on the two
batches together, every rank keeps the same weights, and ranks out of step are caught."""

from __future__ import annotations

import os
import random
import traceback

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from hyperbox.kernel import SearchSpace
from hyperbox.nas import ops
from hyperbox.nas.mutators import DartsMutator
from hyperbox.nas.spaces import OperationSpace, ValueSpace
from hyperbox.nas.trainers import DartsTrainer, OneShotTrainer
from hyperbox.nas.trainers._checkpoint import EpochCheckpoint
from hyperbox.nas.trainers._distributed import OutOfStep, Processes
from hyperbox.nas.trainers._sampling import step_architectures
from hyperbox.nas.trainers._training import Training

torch.set_num_threads(1)
WORLD = 2
BATCH = 8  # per process


def _supernet() -> nn.Module:
    """A width and an operation searched: every step leaves some parameters unused."""
    torch.manual_seed(0)
    width = ValueSpace([8, 16], key="width")
    middle = OperationSpace([ops.Linear(width, width), nn.Sequential(ops.Linear(width, width), nn.Tanh())], key="op")
    return nn.Sequential(ops.Linear(12, width), nn.ReLU(), middle, ops.Linear(width, 3))


def _darts_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(OperationSpace([nn.Linear(12, 12), nn.Sequential(nn.Linear(12, 12), nn.Tanh())], key="op"),
                         nn.Linear(12, 3))  # fmt: skip


def _batches(steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` batches of every rank's samples, rank by rank."""
    generator = torch.Generator().manual_seed(1)
    size = WORLD * BATCH
    return [(torch.randn(size, 12, generator=generator), torch.randint(0, 3, (size,), generator=generator))
            for _ in range(steps)]  # fmt: skip


def _share(batch, rank: int):
    inputs, targets = batch
    return inputs[rank * BATCH : (rank + 1) * BATCH], targets[rank * BATCH : (rank + 1) * BATCH]


def _training(processes: Processes) -> Training:
    return Training(processes, EpochCheckpoint(None, None, processes))


def _oneshot_steps(processes: Processes, steps: int, seed: int = 0) -> tuple[nn.Module, dict]:
    """``steps`` single-path steps of the supernet; its weights, and the first step's gradients."""
    model = _supernet()
    space, rng, training = SearchSpace.of(model), random.Random(seed), _training(processes)
    trainer = OneShotTrainer(lr=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    network, first = training.wrap(model), None
    for batch in _batches(steps):
        inputs, targets = batch if not processes.distributed else _share(batch, processes.rank)
        optimizer.zero_grad(set_to_none=True)
        archs = step_architectures(space, rng, "uniform", 0)
        trainer.step(network, space, archs, inputs, targets, nn.CrossEntropyLoss(), optimizer, training)
        if first is None:
            first = {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}
    return model, first


def _darts_step(processes: Processes) -> tuple[dict, list]:
    """One DARTS step (architecture, then weights); the weights' and the alphas' gradients."""
    model = _darts_net()
    mutator = DartsMutator(model, seed=0)
    mutator.mix()
    alphas, weights, training = mutator.arch_parameters(), list(model.parameters()), _training(processes)
    trainer = DartsTrainer()
    w_optimizer = torch.optim.SGD(weights, lr=0.1, momentum=0.9)
    alpha_optimizer = torch.optim.Adam(alphas, lr=0.01)
    train, val = _batches(2)
    if processes.distributed:
        train, val = _share(train, processes.rank), _share(val, processes.rank)
    network = training.wrap(model)
    trainer.alpha_step(model, alphas, weights, alpha_optimizer, w_optimizer, train, val, training)
    alpha_grads = [a.grad.clone() for a in alphas]  # the weight step's backward adds to them
    trainer.weight_step(network, weights, w_optimizer, train, training)
    return {name: p.grad.clone() for name, p in model.named_parameters()}, alpha_grads


def _rank(rank: int, store: str, out: str, case: str) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # the ranks talk over loopback only
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    processes = Processes(torch.device("cpu"), rank, WORLD, debug=True)
    try:
        if case == "oneshot":
            model, first = _oneshot_steps(processes, steps=3)
            result = {"first": first, "weights": model.state_dict()}
        elif case == "darts":
            grads, alpha_grads = _darts_step(processes)
            result = {"grads": grads, "alpha_grads": alpha_grads}
        else:  # rank 1 draws its architectures from another seed
            try:
                _oneshot_steps(processes, steps=1, seed=rank)
                result = {"error": None}
            except OutOfStep as error:
                result = {"error": str(error)}
    except Exception:
        result = {"crash": traceback.format_exc()}
    torch.save(result, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def _run(tmp_path, case: str) -> list[dict]:
    mp.start_processes(_rank, args=(str(tmp_path / "store"), str(tmp_path), case), nprocs=WORLD, start_method="fork")
    results = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD)]
    for result in results:
        assert "crash" not in result, result.get("crash")
    return results


def _close(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None  # unused on every rank: no gradient, not an average with zeros
    return torch.allclose(a, b, rtol=0, atol=1e-5)


def test_a_supernet_step_on_two_processes_has_the_gradients_of_one_on_both_batches(tmp_path):
    alone, alone_first = _oneshot_steps(Processes(torch.device("cpu")), steps=1)
    ranks = _run(tmp_path, "oneshot")
    assert any(g is None for g in alone_first.values())  # the step left parameters unused
    for result in ranks:
        assert all(_close(result["first"][name], g) for name, g in alone_first.items())
    # several steps later, every rank holds the same weights
    first, second = (r["weights"] for r in ranks)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_a_darts_step_on_two_processes_has_the_gradients_of_one_on_both_batches(tmp_path):
    grads, alpha_grads = _darts_step(Processes(torch.device("cpu")))
    for result in _run(tmp_path, "darts"):
        assert all(_close(result["grads"][name], g) for name, g in grads.items())
        assert all(_close(a, b) for a, b in zip(result["alpha_grads"], alpha_grads))


def test_ranks_training_different_architectures_are_caught(tmp_path):
    for result in _run(tmp_path, "unsynchronised"):
        assert result["error"] is not None and "another architecture than rank 0" in result["error"]


def test_the_unsynchronised_check_needs_debug_mode():
    processes = Processes(torch.device("cpu"), 0, 1, debug=True)
    processes.check_same("one process", {"op": 0})  # nothing to compare with: no collective


@pytest.mark.parametrize("split", ["train"])
def test_every_sample_is_in_exactly_one_ranks_shard(split):
    from hyperbox.nas.datasets import synthetic

    data = synthetic(num_samples=50, input_shape=(4,), seed=0, val_fraction=0, test_fraction=0)
    seen = []
    for rank in range(WORLD):
        for inputs, _ in Processes(torch.device("cpu"), rank, WORLD).batches(data, split, 50, seed=0, epoch=3):
            seen.extend(map(tuple, inputs.tolist()))
    assert len(seen) == 50 and len(set(seen)) == 50


# -- the other ranks follow rank 0's search ------------------------------------------------------
SHORT = 2  # seconds: the process group's collective timeout in these tests (gloo's default is 30 min)


def _follower_context(seed: int = 0):
    from hyperbox.kernel.context import Context

    log = type("Log", (), {"info": lambda self, *a, **k: None})()
    return Context(seed=seed, device="cpu", log=log)


def _follow_rank(rank: int, store: str, out: str, case: str, port: int) -> None:
    """Rank 0 runs what a search runs (its trainings, time alone in between, ``close``); rank 1 follows."""
    import datetime
    import time

    from hyperbox.kernel import HyperboxError
    from hyperbox.nas.datasets import synthetic
    from hyperbox.nas.trainers import StandaloneTrainer

    os.environ.update(GLOO_SOCKET_IFNAME="lo", WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    if case != "never_trains":  # else the trainers join the group themselves, from torchrun's environment
        timeout = datetime.timedelta(seconds=SHORT)
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD, timeout=timeout)
    data = synthetic(num_samples=64, num_classes=3, input_shape=(12,), seed=0, val_fraction=0.25, test_fraction=0)
    trainer = OneShotTrainer(epochs=1, batch_size=8) if case == "oneshot" else StandaloneTrainer(epochs=1, batch_size=8)
    model, context = _supernet(), _follower_context()
    result = {"error": None}
    try:
        if rank > 0:
            trainer.follow(model, None, data, context)
        elif case == "oneshot":
            trainer.fit(model, None, data, context)
            time.sleep(SHORT + 1)  # the search estimates its trials on rank 0 alone
            trainer.close()
        elif case == "standalone":
            for arch in ({"width": 0, "op": 0}, {"width": 1, "op": 1}):
                trainer.trial(model, arch, data, context)
                time.sleep(SHORT + 1)  # the estimators run on rank 0 alone
            trainer.close()
        elif case == "fails":
            try:
                trainer.trial(model, {"width": 0, "op": 0}, _Failing(data), context)
            except HyperboxError as error:
                result["error"] = str(error)
            trainer.close()  # returns at once: rank 1 is stuck in the failed trial
        else:  # never_trains: e.g. a resumed run with nothing left to train
            trainer.close()
    except Exception:
        result = {"crash": traceback.format_exc()}
    torch.save(result, f"{out}/rank{rank}.pt")
    os._exit(0)  # a rank left inside a failed trial's collective would wait for its timeout


class _Failing:
    """Data whose training split breaks on rank 0 only."""

    def __init__(self, data) -> None:
        self.data, self.batch_size, self.val = data, data.batch_size, data.val

    def split(self, name: str):
        if dist.get_rank() == 0:
            raise RuntimeError("a broken disk")
        return self.data.split(name)


def _free_port() -> int:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _follow(tmp_path, case: str) -> list[dict]:
    args = (str(tmp_path / "store"), str(tmp_path), case, _free_port())
    mp.start_processes(_follow_rank, args=args, nprocs=WORLD, start_method="fork")
    return [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD)]


@pytest.mark.parametrize("case", ["oneshot", "standalone", "never_trains"])
def test_the_other_ranks_wait_for_rank_0s_search_beyond_the_collective_timeout(tmp_path, case):
    for result in _follow(tmp_path, case):
        assert "crash" not in result, result.get("crash")
        assert result["error"] is None


def test_a_trial_failing_on_one_rank_ends_the_distributed_run(tmp_path):
    leader, _ = _follow(tmp_path, "fails")
    assert "crash" not in leader, leader.get("crash")
    assert "trial failed on rank 0 of 2 (RuntimeError: a broken disk)" in leader["error"]


def test_every_sample_is_evaluated_by_exactly_one_rank():
    from hyperbox.nas.datasets import synthetic

    data = synthetic(num_samples=50, input_shape=(4,), seed=0, val_fraction=0.5, test_fraction=0)
    seen, counted = [], 0
    for rank in range(WORLD):
        batches, count = Processes(torch.device("cpu"), rank, WORLD).evaluation_batches(data, "val", 8)
        counted += count
        seen.extend(tuple(x) for inputs, _ in batches for x in inputs.tolist())
    assert counted == len(seen) == len(set(seen)) == len(data.split("val"))
