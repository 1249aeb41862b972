"""The shipped offline data set: UCI optical handwritten digits (8x8).

Source: E. Alpaydin and C. Kaynak (1998), "Optical Recognition of Handwritten Digits",
UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, licensed CC BY 4.0.
The file `data/digits.csv.gz` is the test set of that data (1797 samples), the same file
scikit-learn ships; see `data/README.md`.
"""
import gzip
import os

import numpy as np

from ..utils.data import Dataset

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.csv.gz")
_CACHE = {}


def _load_np():
    if "xy" not in _CACHE:
        try:
            with gzip.open(_PATH, "rt") as fh:
                arr = np.loadtxt(fh, delimiter=",", dtype=np.int64)
        except OSError as e:
            raise RuntimeError(f"could not read the shipped digits data at {_PATH}: {e}") from None
        if arr.ndim != 2 or arr.shape[1] != 65:
            raise RuntimeError(f"{_PATH}: expected 65 columns (64 pixels + label), got shape {arr.shape}")
        _CACHE["xy"] = (arr[:, :64].astype(np.float32), arr[:, 64].copy())
    x, y = _CACHE["xy"]
    return x.copy(), y.copy()


def load_digits(scale=False):
    """The 1797 digits as `(X, y)`: X a float32 tensor [1797, 64] of pixel values 0..16 (or
    0..1 with `scale=True`), y an int64 tensor [1797] of labels 0..9."""
    from .. import _tensor
    x, y = _load_np()
    if scale:
        x = x / np.float32(16.0)
    return _tensor.tensor(x), _tensor.tensor(y)


def _split_indices(y, split, seed):
    """A deterministic stratified split: per class, a fixed shuffle (numpy's legacy
    RandomState, whose streams are stable across numpy versions), the first `split`
    fraction to train. Returns sorted (train, test) index arrays."""
    rs = np.random.RandomState(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rs.permutation(len(idx))]
        k = int(round(split * len(idx)))
        train.append(idx[:k])
        test.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class Digits(Dataset):
    """The shipped 8x8 digits as a map-style dataset.

    `Digits(train=True)` is a deterministic, stratified `split` fraction (default 0.8: 1438
    samples; the test part has 359) chosen with `seed`. Samples are `(image, label)`: image a
    float32 tensor [64] (pixel values 0..16, or 0..1 with `scale=True`; reshape to [1, 8, 8]
    for a CNN) passed through `transform`, label a Python int passed through
    `target_transform`. `data` ([n, 64] float32) and `targets` ([n] int64) hold the whole split.
    `root` is accepted for torchvision-style call sites and ignored (nothing is read from disk
    but the file inside the package).
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, train=True, split=0.8, transform=None, target_transform=None, *, seed=0,
                 scale=False, root=None):
        if not isinstance(train, (bool, int)) or isinstance(train, float):
            raise TypeError(f"Digits(train=...) expects a bool, got {type(train).__name__}; the data ships "
                            "with ferrograd, so no root directory is needed (root= is accepted and ignored)")
        if not 0.0 < split < 1.0:
            raise ValueError(f"split must be a fraction in (0, 1), got {split}")
        from .. import _tensor
        x, y = _load_np()
        if scale:
            x = x / np.float32(16.0)
        tr, te = _split_indices(y, split, seed)
        idx = tr if train else te
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.data = _tensor.tensor(np.ascontiguousarray(x[idx]))
        self.targets = _tensor.tensor(np.ascontiguousarray(y[idx]))
        self._y = y[idx].tolist()

    def __len__(self):
        return len(self._y)

    def __getitem__(self, index):
        img, target = self.data[index], self._y[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return f"Dataset Digits\n    Number of datapoints: {len(self)}\n    Split: {'Train' if self.train else 'Test'}"
