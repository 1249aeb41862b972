"""Shared pieces of the demos: the training loop with a tqdm bar, evaluation, and the optional
TensorBoard log (--tensorboard DIR) and loss/accuracy plot (--plot PATH)."""
import time

import ferrograd as torch


def add_logging_args(parser):
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="log loss, accuracy, learning rate and weight histograms for TensorBoard here")
    parser.add_argument("--plot", metavar="PATH", help="save a PNG of the loss and accuracy curves here")


class TrainingLog:
    """Per-epoch history (train loss and accuracy, test accuracy, learning rate); with a log
    directory also a SummaryWriter that gets the per-step loss and the weight histograms."""

    def __init__(self, tensorboard_dir=None):
        self.history = {"loss": [], "accuracy": [], "test_accuracy": [], "learning_rate": []}
        self.writer = None
        if tensorboard_dir:
            from ferrograd.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(tensorboard_dir)
        self.step = 0

    def batch(self, loss):
        self.step += 1
        if self.writer is not None:
            self.writer.add_scalar("loss/train_step", loss, self.step)

    def epoch(self, epoch, model, loss, accuracy, test_accuracy, learning_rate):
        for key, value in (("loss", loss), ("accuracy", accuracy), ("test_accuracy", test_accuracy),
                           ("learning_rate", learning_rate)):
            self.history[key].append(value)
        if self.writer is None:
            return
        w = self.writer
        w.add_scalar("loss/train", loss, epoch)
        w.add_scalars("accuracy", {"train": accuracy, "test": test_accuracy}, epoch)
        w.add_scalar("learning_rate", learning_rate, epoch)
        for name, p in model.named_parameters():
            w.add_histogram(f"weights/{name}", p, epoch)
            if p.grad is not None:
                w.add_histogram(f"gradients/{name}", p.grad, epoch)

    def close(self):
        if self.writer is not None:
            self.writer.close()

    def plot(self, path, title):
        """Loss and accuracy against the epoch, side by side, as a small PNG."""
        from ferrograd.utils._optional import require
        matplotlib = require("matplotlib", "matplotlib")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        epochs = range(1, len(self.history["loss"]) + 1)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
        left.plot(epochs, self.history["loss"], color="tab:red")
        left.set(title="training loss", xlabel="epoch", yscale="log")
        right.plot(epochs, [100 * a for a in self.history["accuracy"]], label="train")
        right.plot(epochs, [100 * a for a in self.history["test_accuracy"]], label="test")
        right.set(title="accuracy (%)", xlabel="epoch")
        right.legend(loc="lower right")
        for ax in (left, right):
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def train(model, loader, optimizer, loss_fn, epochs, desc="training", quiet=False, log=None, test_set=None):
    """Plain minibatch training; a tqdm bar over epochs shows the last epoch's mean loss. With
    `log` (a TrainingLog) each step's loss and each epoch's loss, accuracies (test accuracy on
    `test_set`, a pair (x, y)) and learning rate are recorded."""
    from tqdm.auto import tqdm
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=quiet)
    for epoch in bar:
        model.train()
        total, count, correct = 0.0, 0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            batch_loss = loss.item()
            total += batch_loss * len(yb)
            count += len(yb)
            if log is not None:
                correct += int((out.argmax(dim=1) == yb).sum().item())
                log.batch(batch_loss)
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        if log is not None:
            test_acc = accuracy(model, *test_set) if test_set is not None else float("nan")
            log.epoch(epoch, model, total / max(count, 1), correct / max(count, 1), test_acc,
                      optimizer.param_groups[0]["lr"])
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
