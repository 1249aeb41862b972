"""The digits models on real MNIST: `python -m ferrograd.examples.mnist --root DIR
[--model mlp|cnn] [--epochs N] [--limit N] [--download [--mirror URL]] [--fashion] [--save PATH]`.

DIR holds the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...;
`.gz` or not; also found under DIR/MNIST/raw as torchvision lays them out). Nothing is fetched
unless you pass --download (mirror: --mirror, or $FERROGRAD_MNIST_MIRROR).
MLP: Linear(784, 128) - ReLU - Linear(128, 10); CNN: two Conv-ReLU-MaxPool blocks + Linear.
On 2 CPU cores an MLP epoch over all 60000 images takes seconds, a CNN epoch minutes (use
--limit to train on a subset).
"""
import argparse
import sys

import ferrograd as torch
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.datasets import MNIST, FashionMNIST
from ferrograd.utils.data import DataLoader, TensorDataset

from ._common import Timer, accuracy, train

MEAN, STD = 0.1307, 0.3081


def build_model(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, 10))
    from .cnn import build_model as cnn
    return cnn(size=28)


def _tensors(ds, limit):
    x = ds.data[:limit] if limit else ds.data
    y = ds.targets[:limit] if limit else ds.targets
    return ((x / 255.0 - MEAN) / STD).reshape(-1, 1, 28, 28), y


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.mnist", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="directory with the MNIST IDX files")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fashion", action="store_true", help="Fashion-MNIST instead of MNIST")
    p.add_argument("--download", action="store_true", help="fetch missing files (checked against MD5s)")
    p.add_argument("--mirror", default=None, help="base URL to download from")
    p.add_argument("--save", metavar="PATH", help="save the trained model's state_dict here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    cls = FashionMNIST if args.fashion else MNIST
    try:
        train_set = cls(args.root, train=True, download=args.download, mirror=args.mirror)
        test_set = cls(args.root, train=False, mirror=args.mirror)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        print("hint: point --root at the directory holding the MNIST IDX files, or add --download", file=sys.stderr)
        sys.exit(2)

    torch.manual_seed(args.seed)
    x_train, y_train = _tensors(train_set, args.limit)
    x_test, y_test = _tensors(test_set, 0)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True)
    model = build_model(args.model)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    print(f"{cls.__name__}: {len(y_train)} train / {len(y_test)} test images, model {args.model}, {args.epochs} epochs")
    with Timer() as t:
        train(model, loader, optimizer, nn.CrossEntropyLoss(), args.epochs, desc=f"{cls.__name__} {args.model}",
              quiet=args.quiet)
    acc = accuracy(model, x_test, y_test, batch_size=500)
    print(f"test accuracy: {100 * acc:.2f}%")
    print(f"training time: {t.seconds:.1f}s")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"saved state_dict to {args.save}")
    return acc


if __name__ == "__main__":
    main()
