"""`keras.datasets.mnist.load_data(path="mnist.npz")` on ferrograd's MNIST reader.

`path` is relative to Keras's cache folder (`$KERAS_HOME/datasets`, default
`~/.keras/datasets`) unless absolute. It may name Keras's own `mnist.npz` (loaded and checked),
or a folder holding the four IDX files (`train-images-idx3-ubyte[.gz]`, ...: read by
`ferrograd.datasets.MNIST`). When neither exists, the IDX files are downloaded next to `path`
by `ferrograd.datasets.MNIST(download=True)` (md5-checked; `FERROGRAD_MNIST_MIRROR` picks the
mirror) and saved as the npz `path` names (written atomically) for the next call.
"""
import os
import tempfile
import zipfile

import numpy as np

from ...datasets import MNIST

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _cache_dir():
    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))), "datasets")


def _check(arrays, where):
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or y.dtype != np.uint8 or x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{where}: not MNIST data: x_{split} {x.dtype}{x.shape}, y_{split} {y.dtype}{y.shape} "
                             "(expected uint8 images [N, H, W] and N uint8 labels)")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _KEYS if k not in f.files]
            if missing:
                raise ValueError(f"{path}: not a Keras MNIST npz file: missing {missing} (has {f.files})")
            arrays = {k: f[k] for k in _KEYS}
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path}: corrupt or unreadable npz file ({e})") from None
    return _check(arrays, path)


def _load_idx(folder, download=False):
    train, test = MNIST(folder, train=True, download=download), MNIST(folder, train=False)
    arrays = {"x_train": train._images, "y_train": train._labels.astype(np.uint8),
              "x_test": test._images, "y_test": test._labels.astype(np.uint8)}
    return arrays


def _save_npz(path, arrays):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_data(path="mnist.npz"):
    """`(x_train, y_train), (x_test, y_test)`: uint8 arrays of shape (60000, 28, 28), (60000,),
    (10000, 28, 28), (10000,), as Keras returns them."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isabs(path):
        path = os.path.join(_cache_dir(), path)
    if os.path.isdir(path):
        return _check(_load_idx(path), path)
    if os.path.isfile(path):
        return _load_npz(path)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    arrays = _load_idx(folder, download=True)
    result = _check(arrays, folder)
    _save_npz(path, arrays)
    return result
