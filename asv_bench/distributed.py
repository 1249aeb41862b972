"""Distributed speed, run on MPI ranks:

    python -m ferrograd.distributed.run -n 2 asv_bench/distributed.py [--quick]

1. all_reduce of 25 MB of float32: ferrograd's `dist.all_reduce` against mpi4py's own
   `Allreduce` on a numpy array of the same size, interleaved in one run (bandwidth = bytes
   reduced per second, median over rounds).
2. The DDP step of the MLP 784-128-10 (SGD, batch 64 per rank): the single-process step of
   the per-rank batch (compute), the all-reduce of the gradients alone (communication), the DDP
   step, and from them the overlap (compute + communication - DDP step) and DDP's overhead.
   Each is the median over steps (each step started together on all ranks, timed on the
   slowest), so a rank pre-empted by other processes on a busy machine does not skew it.
Rank 0 prints the figures. On a machine with fewer cores than ranks x threads, give each rank
one compute thread (FERROGRAD_NUM_THREADS=1), as the figures in README were measured.
"""
import argparse
import statistics
import time

import numpy as np
from mpi4py import MPI

import ferrograd as torch
import ferrograd.distributed as dist
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.nn.parallel import DistributedDataParallel as DDP


def timed(fn, rounds):
    """Median seconds of `fn` over rounds, each started together on all ranks."""
    times = []
    for _ in range(rounds):
        MPI.COMM_WORLD.Barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    # The slowest rank's time is the collective's.
    return statistics.median(MPI.COMM_WORLD.allreduce(t, op=MPI.MAX) for t in times)


def all_reduce_bandwidth(rounds):
    n = 25 * 1024 * 1024 // 4
    tensor = torch.ones(n)
    array = np.ones(n, dtype=np.float32)
    ours, theirs = [], []
    for _ in range(rounds):  # interleaved, so both see the same machine load
        ours.append(timed(lambda: dist.all_reduce(tensor), 1))
        theirs.append(timed(lambda: MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, array), 1))
    mb = n * 4 / 1e6
    return mb / statistics.median(ours), mb / statistics.median(theirs)


def mlp():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def ddp_step_split(rounds):
    torch.manual_seed(0)
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()

    def step_of(model):
        opt = optim.SGD(model.parameters(), lr=0.01)

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return step

    local = mlp()
    ddp = DDP(mlp())
    flat = torch.zeros(sum(p.numel() for p in ddp.module.parameters()))
    runs = {"compute": step_of(local), "comm": lambda: dist.all_reduce(flat, op=dist.ReduceOp.AVG),
            "step": step_of(ddp)}
    times = {name: [] for name in runs}
    for fn in runs.values():
        fn()  # warm-up: first-touch allocations, the thread team
    for _ in range(rounds):  # interleaved, so all three see the same machine load
        for name, fn in runs.items():
            times[name].append(timed(fn, 1))
    return [statistics.median(times[name]) for name in runs] + [len(ddp._buckets)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    args = p.parse_args()
    rounds = 3 if args.quick else 15
    dist.init_process_group("mpi")
    ours, theirs = all_reduce_bandwidth(rounds)
    compute, comm, step, buckets = ddp_step_split(10 * rounds)
    if dist.get_rank() == 0:
        world = dist.get_world_size()
        print(f"all_reduce 25 MB float32 on {world} ranks: ferrograd {ours:.0f} MB/s, mpi4py Allreduce "
              f"{theirs:.0f} MB/s, ratio {ours / theirs:.2f}")
        overlap = compute + comm - step
        print(f"DDP MLP 784-128-10 step, batch 64 per rank, {world} ranks, {buckets} buckets: "
              f"compute {compute * 1e6:.0f} us, communication {comm * 1e6:.0f} us, DDP step {step * 1e6:.0f} us, "
              f"overlap {overlap * 1e6:.0f} us, overhead over the single-process step {step / compute:.2f}x")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
