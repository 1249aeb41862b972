"""Argument helpers shared by the layers (PyTorch's _single/_pair/_triple and non-constant padding)."""
import collections.abc
import numbers
from itertools import repeat

import numpy as np

from ... import _core
from ... import _tensor as T


def _ntuple(n, name="parse"):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")


def _reverse_repeat_tuple(t, n):
    return tuple(x for x in reversed(t) for _ in range(n))


_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_nd(input, pad, mode="constant", value=0.0):
    """F.pad with 'constant', 'reflect', 'replicate' and 'circular' modes (differentiable: index_select)."""
    if mode in ("constant", "zeros"):
        return _core.pad(input, [int(p) for p in pad], float(value or 0.0))
    if mode not in _NP_MODES:
        raise NotImplementedError(f"padding mode '{mode}' is not supported")
    out = input
    for i in range(len(pad) // 2):
        dim = input.ndim - 1 - i
        left, right = int(pad[2 * i]), int(pad[2 * i + 1])
        if left == 0 and right == 0:
            continue
        n = out.shape[dim]
        if mode == "reflect" and (left >= n or right >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({left}, {right}) at dimension {dim} of input {list(input.shape)}")
        idx = np.pad(np.arange(n, dtype=np.int64), (left, right), mode=_NP_MODES[mode])
        out = T.index_select(out, dim, T.tensor(idx, device=out.device))
    return out


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)
