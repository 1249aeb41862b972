"""Shared test helpers: numpy comparison and float64 gradchecks, on the device under test.

`DEVICE` is set by conftest's `on_device` fixture. On the GPU, float64 data becomes float32 (the
GPU kernels compute in float32), comparisons use float32 tolerances and check that the result
lives on the GPU, and gradients are compared with the CPU's float64 gradients (which the CPU run
of the same test gradchecks against finite differences).
"""
import os

import numpy as np
import pytest

import ferrograd as torch
from ferrograd.autograd import gradcheck

DEVICE = "cpu"

# GPU-specific test files: skipped without an adapter unless FERROGRAD_REQUIRE_GPU=1 (as in CI,
# on Mesa's lavapipe), in which case a missing adapter fails.
REQUIRE_GPU = os.environ.get("FERROGRAD_REQUIRE_GPU") == "1"
needs_gpu = pytest.mark.skipif(
    not REQUIRE_GPU and not torch.gpu.is_available(),
    reason=f"no GPU adapter ({torch.gpu.unavailable_reason()}); set FERROGRAD_REQUIRE_GPU=1 to fail instead",
)
GPU = "gpu"


def np_of(t):
    return t.detach().cpu().numpy()


def close_on_gpu(g, c, rtol=1e-5, atol=1e-5):
    """A GPU result against the CPU's: same shape and dtype, values within tolerance."""
    assert g.device.type == "gpu", g.device
    assert tuple(g.shape) == tuple(c.shape) and g.dtype == c.dtype, (g.shape, c.shape, g.dtype, c.dtype)
    np.testing.assert_allclose(np_of(g), np_of(c), rtol=rtol, atol=atol, equal_nan=True)


def output_and_grads(fn, *inputs, device):
    """fn's output over fresh leaf copies of `inputs` on `device`, and the leaves' gradients
    after backward (checked to live on that device)."""
    leaves = [t.detach().to(device).requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    out.backward()
    for leaf in leaves:
        assert leaf.grad is not None and leaf.grad.device.type == torch.device(device).type
    return out, [leaf.grad for leaf in leaves]


def same_on_gpu(g, c):
    """Exact equality of a GPU result with the CPU's (values, dtype, shape; NaN == NaN)."""
    assert g.device.type == "gpu", g.device
    assert tuple(g.shape) == tuple(c.shape) and g.dtype == c.dtype, (g.shape, c.shape, g.dtype, c.dtype)
    np.testing.assert_array_equal(np_of(g), np_of(c))


def on_gpu():
    return DEVICE == "gpu"


def float_dtype():
    """The float dtype a test computes in: float64 on the CPU, float32 on the GPU."""
    return torch.float32 if on_gpu() else torch.float64


def _data_dtype(dtype):
    return np.float32 if on_gpu() and np.dtype(dtype) == np.float64 else dtype


def data(values):
    """numpy float data in the test's float dtype (float64; float32 on the GPU)."""
    return np.asarray(values, dtype=_data_dtype(np.float64))


def rand(*shape, dtype=np.float64, low=-2.0, high=2.0, rng=None):
    rng = rng or np.random.default_rng(0)
    return rng.uniform(low, high, size=shape).astype(_data_dtype(dtype))


def t64(arr, requires_grad=False):
    return torch.tensor(np.asarray(arr, dtype=_data_dtype(np.float64)), requires_grad=requires_grad)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    if isinstance(actual, torch.Tensor):
        assert actual.device.type == DEVICE, f"result on {actual.device}, test runs on {DEVICE}"
        actual = actual.detach().cpu().numpy()
    if on_gpu():
        rtol, atol = max(rtol, 1e-4), max(atol, 1e-4)
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)


def check_grad(fn, *arrays):
    """gradcheck of fn over float64 tensors made from `arrays`; on the GPU, fn's float32
    gradients there against its float64 gradients on the CPU. Either way, fn's forward and
    backward also run through `ferrograd.compile` (see `check_compiled`)."""
    check_compiled(fn, *arrays)
    if not on_gpu():
        inputs = [t64(a, requires_grad=True) for a in arrays]
        assert gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)
        return

    def grads(dtype, device):
        inputs = [torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device, requires_grad=True)
                  for a in arrays]
        return _weighted_grads(fn(*inputs), inputs, device)
    _match_cpu(grads)


def check_compiled(fn, *arrays):
    """fn's output and the gradients of a weighted sum of it, through `ferrograd.compile`, equal
    eager within 1e-6 (relative, float32) on the device under test: once when tracing and once
    replaying on other data (the arrays' values in reversed order, so data baked into a graph
    would show). A function the graph capture cannot take runs eagerly (its warning is kept out
    of the test's output)."""
    import warnings

    def step(*xs):
        for x in xs:
            x.grad = None
        out = fn(*xs)
        if out.requires_grad:
            w = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
            (out * w).sum().backward()
        return out.detach()

    compiled = torch.compile(step)
    for arrs in (arrays, [np.asarray(a).ravel()[::-1].reshape(np.shape(a)) for a in arrays]):
        results = []
        for run in (step, compiled):
            leaves = [torch.tensor(np.asarray(a, dtype=np.float32), requires_grad=True) for a in arrs]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out = run(*leaves)
            results.append([out] + [x.grad for x in leaves])
        for i, (c, e) in enumerate(zip(results[1], results[0])):
            assert (c is None) == (e is None), f"compiled: gradient {i - 1} is {c}, eager {e}"
            if e is not None:
                np.testing.assert_allclose(np_of(c), np_of(e), rtol=1e-6, atol=1e-6,
                                           err_msg="compiled output" if i == 0 else f"compiled gradient {i - 1}")


def module_grads_match_cpu(module, *inputs, call=lambda m, *xs: m(*xs)):
    """On the GPU: gradients of call(module, *inputs) for the inputs that require grad and for
    the parameters match those of a float64 CPU copy of the module."""
    import copy

    def grads(dtype, device):
        mod = module if device == DEVICE else copy.deepcopy(module).to(device, dtype)
        xs = [x.detach().to(device, dtype).requires_grad_(x.requires_grad) for x in inputs]
        leaves = [x for x in xs if x.requires_grad] + [p for p in mod.parameters() if p.requires_grad]
        return _weighted_grads(call(mod, *xs), leaves, device)
    _match_cpu(grads)


def _match_cpu(grads):
    """grads(dtype, device) in float32 on the device under test against float64 on the CPU."""
    torch.set_default_device(None)
    try:
        expected = grads(torch.float64, "cpu")
    finally:
        torch.set_default_device(DEVICE)
    actual = grads(torch.float32, DEVICE)
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=1e-3, atol=1e-3, err_msg=f"gradient of leaf {i}")


def _weighted_grads(outs, leaves, device):
    """Gradients of sum(w * out) over the float outputs `outs`, for fixed random weights w,
    with respect to `leaves`, as float64 numpy arrays (zeros where a leaf is unused)."""
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    rng = np.random.default_rng(7)
    total = 0
    for o in outs:
        if isinstance(o, torch.Tensor) and o.dtype.is_floating_point:
            assert o.device.type == device, f"output on {o.device}, inputs on {device}"
            w = torch.tensor(rng.uniform(-1, 1, size=tuple(o.shape)), dtype=o.dtype, device=device)
            total = total + (o * w).sum()
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    return [np.zeros(tuple(x.shape)) if g is None else g.detach().cpu().double().numpy() for x, g in zip(leaves, grads)]


def noncontig(arr):
    """A tensor holding `arr` through a non-contiguous (transposed) view."""
    t = torch.tensor(np.ascontiguousarray(np.swapaxes(arr, 0, -1)))
    v = t.transpose(0, -1)
    assert arr.ndim < 2 or not v.is_contiguous()
    return v
