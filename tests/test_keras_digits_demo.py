"""`python -m ferrograd.examples.keras_digits` in a subprocess, as tests/test_examples.py runs
the other demos: at least 95% test accuracy, and the saved .keras file reproduces it."""
import os
import re
import subprocess
import sys

import numpy as np


def test_keras_digits_demo_reaches_95_percent_and_saves(tmp_path):
    path = tmp_path / "digits.keras"
    proc = subprocess.run([sys.executable, "-m", "ferrograd.examples.keras_digits", "--save", str(path)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert 'Model: "sequential"' in out and "Epoch 1/60" in out
    assert re.search(r"\n\d+/\d+ - \d+s - \d+(us|ms)/step - accuracy: [0-9.]+ - loss: [0-9.]+ - val_accuracy", out)
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)%", out).group(1))
    assert accuracy >= 95.0
    from ferrograd import keras
    from ferrograd.datasets import Digits
    test = Digits(train=False, scale=True)
    model = keras.models.load_model(path)
    predicted = model.predict(test.data.numpy(), verbose=0).argmax(-1)
    assert abs(100 * np.mean(predicted == test.targets.numpy()) - accuracy) < 0.01
