"""A small CNN on the shipped 8x8 digits: `python -m ferrograd.examples.cnn [--epochs N] [--seed S]
[--save PATH]
[--tensorboard DIR] [--plot PATH]`.

Conv2d(1, 16, 3, padding=1) - ReLU - MaxPool2d(2) -> [16, 4, 4],
Conv2d(16, 32, 3, padding=1) - ReLU - MaxPool2d(2) -> [32, 2, 2], Flatten, Linear(128, 10);
the images are reshaped to [N, 1, 8, 8]. Prints the test accuracy (about 98%).
"""
import argparse

import ferrograd as torch
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.datasets import Digits
from ferrograd.utils.data import DataLoader, TensorDataset

from ._common import Timer, TrainingLog, accuracy, add_logging_args, train


def build_model(size=8, channels=(16, 32), num_classes=10):
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (size // 4) ** 2, num_classes))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.cnn", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", metavar="PATH", help="save the trained model's state_dict here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_logging_args(p)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    train_set, test_set = Digits(train=True, scale=True), Digits(train=False, scale=True)
    x_train, x_test = train_set.data.reshape(-1, 1, 8, 8), test_set.data.reshape(-1, 1, 8, 8)
    loader = DataLoader(TensorDataset(x_train, train_set.targets), batch_size=args.batch_size, shuffle=True)
    model = build_model()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    print(f"digits CNN: {len(train_set)} train / {len(test_set)} test images [1, 8, 8], {args.epochs} epochs")
    log = TrainingLog(args.tensorboard) if args.tensorboard or args.plot else None
    with Timer() as t:
        train(model, loader, optimizer, nn.CrossEntropyLoss(), args.epochs, desc="digits CNN", quiet=args.quiet,
              log=log, test_set=(x_test, test_set.targets))
    if log is not None:
        log.close()
        if args.tensorboard:
            print(f"TensorBoard logs in {args.tensorboard} (view: tensorboard --logdir {args.tensorboard})")
        if args.plot:
            log.plot(args.plot, "CNN on the 8x8 digits")
            print(f"saved loss/accuracy curves to {args.plot}")
    acc = accuracy(model, x_test, test_set.targets)
    print(f"test accuracy: {100 * acc:.2f}%")
    print(f"training time: {t.seconds:.1f}s")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"saved state_dict to {args.save}")
    return acc


if __name__ == "__main__":
    main()
