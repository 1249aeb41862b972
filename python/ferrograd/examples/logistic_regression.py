"""Binary logistic regression: `python -m ferrograd.examples.logistic_regression [--epochs N]`.

Task: tell the shipped 8x8 digits "3" and "8" apart (the pair a linear model finds hardest
among the common ones) with nn.Linear(64, 1), nn.BCEWithLogitsLoss and optim.SGD, full-batch.
Prints the test accuracy (about 98%).
"""
import argparse

import ferrograd as torch
import ferrograd.nn as nn
import ferrograd.optim as optim
from ferrograd.datasets import Digits


def _pair(ds, a, b):
    keep = (ds.targets == a) | (ds.targets == b)
    return ds.data[keep], (ds.targets[keep] == b).float()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ferrograd.examples.logistic_regression", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="accepted for symmetry with the other demos")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    x_train, y_train = _pair(Digits(train=True, scale=True), 3, 8)
    x_test, y_test = _pair(Digits(train=False, scale=True), 3, 8)
    model = nn.Linear(64, 1)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    print(f"digits 3 vs 8: {len(y_train)} train / {len(y_test)} test samples")
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(x_train).squeeze(1), y_train)
        loss.backward()
        optimizer.step()
        if (epoch + 1) % max(args.epochs // 5, 1) == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    with torch.no_grad():
        pred = (model(x_test).squeeze(1) > 0).float()
        acc = (pred == y_test).float().mean().item()
    print(f"test accuracy: {100 * acc:.2f}%")
    return acc


if __name__ == "__main__":
    main()
