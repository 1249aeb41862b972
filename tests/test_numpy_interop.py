"""Tensor op ndarray and ndarray op Tensor: every operator, both orders, on the tape, each device."""
import operator

import numpy as np
import pytest

import ferrograd as torch
from helpers import assert_close, np_of


def pytest_generate_tests(metafunc):
    metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


ARITHMETIC = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
              operator.pow]
COMPARISON = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


def _pair():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
    b[0, 0] = a[0, 0]  # one tie for the comparisons
    return a, b


@pytest.mark.parametrize("op", ARITHMETIC + COMPARISON, ids=lambda f: f.__name__)
@pytest.mark.parametrize("tensor_side", ["left", "right"])
def test_operator_with_array_gives_tensor_on_the_tape(op, tensor_side):
    a, b = _pair()
    t = torch.tensor(a if tensor_side == "left" else b, requires_grad=True)
    out = op(t, b) if tensor_side == "left" else op(a, t)
    assert isinstance(out, torch.Tensor)
    assert_close(out, op(a, b), rtol=1e-5, atol=1e-5)
    # The same expression with both operands tensors gives the same value and gradient.
    ref_leaf = torch.tensor(np_of(t), requires_grad=True)
    other = torch.tensor(b if tensor_side == "left" else a)
    ref = op(ref_leaf, other) if tensor_side == "left" else op(other, ref_leaf)
    if op in COMPARISON:
        assert out.dtype == torch.bool and not out.requires_grad
        return
    assert out.requires_grad == ref.requires_grad
    if ref.requires_grad:
        out.sum().backward()
        ref.sum().backward()
        assert_close(t.grad, np_of(ref_leaf.grad), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tensor_side", ["left", "right"])
def test_matmul_with_array(tensor_side):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    t = torch.tensor(a if tensor_side == "left" else b, requires_grad=True)
    out = t @ b if tensor_side == "left" else a @ t
    assert isinstance(out, torch.Tensor) and out.grad_fn is not None
    assert_close(out, a @ b, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    expected = np.ones((2, 4), np.float32) @ b.T if tensor_side == "left" else a.T @ np.ones((2, 4), np.float32)
    assert_close(t.grad, expected, rtol=1e-5, atol=1e-5)


def test_bitwise_operators_with_bool_array():
    m = np.array([True, False, True, False])
    t = torch.tensor([True, True, False, False])
    for op in (operator.and_, operator.or_, operator.xor):
        assert_close(op(t, m), op(np.array([True, True, False, False]), m))
        assert_close(op(m, t), op(m, np.array([True, True, False, False])))


@pytest.mark.cpu_only("float64 does not exist on the GPU")
def test_array_dtype_is_kept_as_convert_to_tensor_does():
    w = torch.ones(3, requires_grad=True)
    assert (w * np.ones(3, np.float64)).dtype == torch.float64
    assert (np.arange(3) * w).dtype == torch.float32        # int64 array, float tensor: float32
    assert (w * np.ones(3, np.float16)).dtype == torch.float32
    # Numbers and 0-d values do not promote the tensor, as Python numbers do not.
    assert (np.float64(2.0) * w).dtype == torch.float32
    assert (w + np.array(2.0)).dtype == torch.float32


def test_array_lands_on_the_tensor_device(on_device):
    w = torch.ones(3, requires_grad=True)
    assert (np.ones(3, np.float32) - w).device.type == on_device


def test_shape_mismatch_names_shapes():
    with pytest.raises(RuntimeError, match="size of tensor a \\(3\\) must match the size of tensor b \\(4\\)"):
        torch.ones(3) * np.ones(4, np.float32)


def test_other_ufuncs_keep_numpy_behaviour(on_device):
    t = torch.tensor([0.0, 1.0])
    if on_device == "gpu":
        with pytest.raises(TypeError, match="gpu:0 device type tensor to numpy"):
            np.exp(t)
        t = t.cpu()
    out = np.exp(t)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, np.exp([0.0, 1.0]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.exp(torch.tensor([0.0, 1.0], requires_grad=True))


@pytest.mark.cpu_only("a GPU tensor never converts to numpy implicitly")
def test_inplace_on_array_never_drops_a_gradient():
    x = np.zeros(2, np.float32)
    x += torch.tensor([1.0, 2.0])
    np.testing.assert_array_equal(x, [1, 2])
    with pytest.raises(RuntimeError, match="requires grad"):
        x += torch.tensor([1.0, 2.0], requires_grad=True)
