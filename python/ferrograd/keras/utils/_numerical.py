"""`keras.utils.set_random_seed`, `to_categorical`, `normalize` (Keras 3's behaviour)."""
import random

import numpy as np

import ferrograd as _fg
from ..._core import Tensor


def set_random_seed(seed):
    """Seeds Python's `random`, numpy and ferrograd's global stream (and so every
    `keras.random` draw without a seed), as Keras seeds Python, numpy and its backend."""
    if not isinstance(seed, int):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed} (of type {type(seed)})")
    random.seed(seed)
    np.random.seed(seed)
    _fg.manual_seed(seed)


def to_categorical(x, num_classes=None):
    """One-hot encoding of integer labels: a float numpy array for array-like input (as Keras,
    float64), a float32 tensor for a tensor. A trailing axis of size 1 is replaced."""
    if isinstance(x, Tensor):
        from ..ops import one_hot
        if x.dim() > 1 and x.shape[-1] == 1:
            x = x.squeeze(-1)
        if num_classes is None:
            num_classes = int(x.max()) + 1
        return one_hot(x, num_classes)
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if not num_classes:
        num_classes = int(np.max(x)) + 1
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}); got values from {x.min()} to {x.max()}")
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(input_shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """`x` divided by its `order`-norm along `axis` (a numpy array stays numpy, as in Keras)."""
    if isinstance(x, Tensor):
        from ..ops import normalize as ops_normalize
        return ops_normalize(x, axis=axis, order=order)
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
