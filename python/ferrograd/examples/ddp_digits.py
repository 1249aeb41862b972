"""The digits MLP trained data-parallel over MPI ranks:
`mpirun -n 2 python -m ferrograd.examples.ddp_digits [--epochs N] [--batch-size B]`.

Each rank trains `DistributedDataParallel(model)` on its `DistributedSampler` shard of the
training set (per-rank batch B, so the global batch is B x ranks); gradients are averaged over
the ranks after every backward, so all replicas stay equal. Rank 0 prints the test accuracy.
"""
import argparse

import ferrograd as torch
import ferrograd.distributed as dist
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.datasets import Digits
from ferrograd.nn.parallel import DistributedDataParallel
from ferrograd.utils.data import DataLoader, DistributedSampler, TensorDataset

from ._common import Timer, accuracy
from .digits import build_model


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.ddp_digits", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16, help="per rank")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)
    train_set, test_set = Digits(train=True, scale=True), Digits(train=False, scale=True)
    dataset = TensorDataset(train_set.data, train_set.targets)
    sampler = DistributedSampler(dataset, seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)
    model = DistributedDataParallel(build_model())  # rank 0's initial weights on every rank
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    if rank == 0:
        print(f"ddp digits: {world} ranks, {len(sampler)} samples each, global batch {args.batch_size * world}, "
              f"{args.epochs} epochs")
    with Timer() as t:
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            model.train()
            for xb, yb in loader:
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
    acc = accuracy(model.module, test_set.data, test_set.targets)
    if rank == 0:
        print(f"test accuracy: {100 * acc:.2f}%")
        print(f"training time: {t.seconds:.1f}s")
    dist.destroy_process_group()
    return acc


if __name__ == "__main__":
    main()
