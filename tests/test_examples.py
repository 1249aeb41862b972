"""The demos, run as `python -m ferrograd.examples.<name>` in a subprocess."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ferrograd as torch

TIMEOUT = 120


def _run(name, *args, cwd=None):
    env = dict(os.environ)
    env.pop("FERROGRAD_MNIST_MIRROR", None)
    proc = subprocess.run([sys.executable, "-m", f"ferrograd.examples.{name}", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, env=env, cwd=cwd)
    return proc


def _accuracy(out):
    m = re.search(r"test accuracy: ([0-9.]+)%", out)
    assert m, out
    return float(m.group(1))


def test_linear_regression_recovers_parameters():
    proc = _run("linear_regression")
    assert proc.returncode == 0, proc.stderr
    w = re.search(r"fitted w = \[([-0-9., ]+)\]", proc.stdout).group(1)
    b = re.search(r"fitted b = ([-0-9.]+)", proc.stdout).group(1)
    w = [float(v) for v in w.split(",")]
    assert abs(w[0] - 2.0) < 0.01 and abs(w[1] + 3.4) < 0.01 and abs(float(b) - 4.2) < 0.01


def test_gradient_tape_recovers_parameters():
    proc = _run("gradient_tape")
    assert proc.returncode == 0, proc.stderr
    w = re.search(r"fitted w = \[([-0-9., ]+)\]", proc.stdout).group(1)
    b = re.search(r"fitted b = ([-0-9.]+)", proc.stdout).group(1)
    w = [float(v) for v in w.split(",")]
    assert abs(w[0] - 2.0) < 0.01 and abs(w[1] + 3.4) < 0.01 and abs(float(b) - 4.2) < 0.01
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", proc.stdout)]
    assert len(losses) == 20 and losses[-1] < 1e-3 < losses[0]


def test_logistic_regression():
    proc = _run("logistic_regression")
    assert proc.returncode == 0, proc.stderr
    assert _accuracy(proc.stdout) >= 90.0


def test_digits_mlp_reaches_95_percent_and_saves(tmp_path):
    ckpt = tmp_path / "digits.safetensors"
    proc = _run("digits", "--save", str(ckpt))
    assert proc.returncode == 0, proc.stderr
    acc = _accuracy(proc.stdout)
    assert acc >= 95.0
    assert "epoch" in proc.stderr                                  # the tqdm bar
    # the checkpoint reloads into a fresh model and reproduces the printed accuracy
    from ferrograd.datasets import Digits
    from ferrograd.examples.digits import build_model
    model = build_model()
    model.load_state_dict(torch.load(ckpt))
    test = Digits(train=False, scale=True)
    with torch.no_grad():
        mine = (model(test.data).argmax(1) == test.targets).float().mean().item() * 100
    assert abs(mine - acc) < 0.01
    import safetensors.numpy as stn
    assert set(stn.load_file(str(ckpt))) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_digits_mlp_adam_and_seed():
    proc = _run("digits", "--optimizer", "adam", "--seed", "3", "--epochs", "15", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert _accuracy(proc.stdout) >= 95.0


def test_cnn_digits():
    proc = _run("cnn", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert _accuracy(proc.stdout) >= 95.0


def _digits_as_mnist(d):
    """An MNIST-shaped IDX set made from the shipped digits (upscaled 3x and padded to 28x28)."""
    from ferrograd.datasets import Digits, write_idx
    for train, prefix in ((True, "train"), (False, "t10k")):
        ds = Digits(train=train)
        x = np.kron(ds.data.numpy().reshape(-1, 8, 8), np.ones((3, 3), np.float32))
        x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
        write_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"), np.round(x * 255 / 16).astype(np.uint8))
        write_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte"), ds.targets.numpy().astype(np.uint8))


@pytest.mark.parametrize("model,threshold,extra", [("mlp", 90.0, []), ("cnn", 85.0, ["--epochs", "2"])])
def test_mnist_example_on_idx_files(tmp_path, model, threshold, extra):
    _digits_as_mnist(tmp_path)
    proc = _run("mnist", "--root", str(tmp_path), "--model", model, "--quiet", *extra)
    assert proc.returncode == 0, proc.stderr
    assert "1438 train / 359 test" in proc.stdout
    assert _accuracy(proc.stdout) >= threshold


def test_mnist_example_missing_files(tmp_path):
    proc = _run("mnist", "--root", str(tmp_path))
    assert proc.returncode == 2
    assert "train-images-idx3-ubyte" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr
