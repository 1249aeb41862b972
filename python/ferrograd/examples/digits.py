"""An MLP on the shipped 8x8 digits: `python -m ferrograd.examples.digits [--epochs N] [--seed S]
[--optimizer sgd|adam] [--save PATH]
[--tensorboard DIR] [--plot PATH]`.

Linear(64, 128) - ReLU - Linear(128, 10), CrossEntropyLoss, SGD with momentum (or Adam), on a
deterministic 80/20 split of the 1797 UCI digits that ship with ferrograd. Prints the test
accuracy (about 97%) and, with --save, writes the state_dict with `ferrograd.save`.
"""
import argparse

import ferrograd as torch
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.datasets import Digits
from ferrograd.utils.data import DataLoader, TensorDataset

from ._common import Timer, TrainingLog, accuracy, add_logging_args, train


def build_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.digits", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="default 0.02 (sgd) / 0.002 (adam)")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", metavar="PATH", help="save the trained model's state_dict here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_logging_args(p)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)  # governs the initial weights and the DataLoader's shuffling
    train_set, test_set = Digits(train=True, scale=True), Digits(train=False, scale=True)
    loader = DataLoader(TensorDataset(train_set.data, train_set.targets), batch_size=args.batch_size, shuffle=True)
    model = build_model()
    if args.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=args.lr or 0.02, momentum=0.9)
    else:
        optimizer = optim.Adam(model.parameters(), lr=args.lr or 0.002)
    print(f"digits: {len(train_set)} train / {len(test_set)} test samples, {args.epochs} epochs, {args.optimizer}")
    log = TrainingLog(args.tensorboard) if args.tensorboard or args.plot else None
    with Timer() as t:
        train(model, loader, optimizer, nn.CrossEntropyLoss(), args.epochs, desc="digits MLP", quiet=args.quiet,
              log=log, test_set=(test_set.data, test_set.targets))
    if log is not None:
        log.close()
        if args.tensorboard:
            print(f"TensorBoard logs in {args.tensorboard} (view: tensorboard --logdir {args.tensorboard})")
        if args.plot:
            log.plot(args.plot, "MLP on the 8x8 digits")
            print(f"saved loss/accuracy curves to {args.plot}")
    acc = accuracy(model, test_set.data, test_set.targets)
    print(f"train accuracy: {100 * accuracy(model, train_set.data, train_set.targets):.2f}%")
    print(f"test accuracy: {100 * acc:.2f}%")
    print(f"training time: {t.seconds:.1f}s")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"saved state_dict to {args.save}")
    return acc


if __name__ == "__main__":
    main()
