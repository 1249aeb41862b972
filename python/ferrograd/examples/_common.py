"""Shared pieces of the demos: the training loop with a tqdm bar, and evaluation."""
import time

import ferrograd as torch


def train(model, loader, optimizer, loss_fn, epochs, desc="training", quiet=False):
    """Plain minibatch training; a tqdm bar over epochs shows the last epoch's mean loss."""
    from tqdm.auto import tqdm
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=quiet)
    for _ in bar:
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
    bar.close()


def accuracy(model, x, y, batch_size=1000):
    """Fraction of rows of `x` whose arg-max prediction equals `y`."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            pred = model(x[i:i + batch_size]).argmax(dim=1)
            correct += int((pred == y[i:i + batch_size]).sum().item())
    return correct / max(len(y), 1)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
