"""Shared test helpers: numpy comparison and float64 gradchecks."""
import numpy as np

import ferrograd as torch
from ferrograd.autograd import gradcheck


def rand(*shape, dtype=np.float64, low=-2.0, high=2.0, rng=None):
    rng = rng or np.random.default_rng(0)
    return rng.uniform(low, high, size=shape).astype(dtype)


def t64(arr, requires_grad=False):
    return torch.tensor(np.asarray(arr, dtype=np.float64), requires_grad=requires_grad)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    a = actual.detach().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)


def check_grad(fn, *arrays):
    """gradcheck of fn over float64 tensors made from `arrays`."""
    inputs = [t64(a, requires_grad=True) for a in arrays]
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def noncontig(arr):
    """A tensor holding `arr` through a non-contiguous (transposed) view."""
    t = torch.tensor(np.ascontiguousarray(np.swapaxes(arr, 0, -1)))
    v = t.transpose(0, -1)
    assert arr.ndim < 2 or not v.is_contiguous()
    return v
