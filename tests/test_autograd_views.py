"""In-place ops and views under autograd, with PyTorch's semantics: a view follows in-place
changes of its base, an in-place op on a view rewrites the base's history (CopySlices), and
the errors PyTorch raises. Runs on both devices (conftest)."""
import numpy as np
import pytest

import ferrograd as torch
from ferrograd.autograd import gradgradcheck
from helpers import assert_close, check_grad, float_dtype, on_gpu, rand, t64


def test_view_taken_before_inplace_change_of_base_sees_it():
    x = torch.ones(4, requires_grad=True)
    y = x * 1
    v = y[:2]
    y.mul_(3)
    assert v.grad_fn.name() == "AsStridedBackward0"
    v.sum().backward()
    assert_close(x.grad, [3.0, 3.0, 0.0, 0.0])


def test_views_of_a_view_follow_the_base():
    x = t64(rand(3, 4), requires_grad=True)
    y = x * 1
    v = y.T[1:3]
    y.add_(y)
    (v * v).sum().backward()
    expected = np.zeros((3, 4))
    expected[:, 1:3] = 8 * rand(3, 4)[:, 1:3]
    assert_close(x.grad, expected, rtol=1e-4)


def _mul_diagonal(x, w):
    y = x * 1
    y.diagonal().mul_(w)
    return y


def _copy_into_narrow(x, w):
    z = x * 1
    z.narrow(0, 1, 2).copy_(w)
    return z


def _add_into_row(x, w):
    y = x * 1
    y[1].add_(w)
    return y


def _view_used_after_its_inplace(x, w):
    y = x * 3
    v = y[1:, ::2]
    v.mul_(w)
    return v * y.sum()


def _view_of_view(x, w):
    y = x * 2
    y[1:].T[0].add_(w * w)
    return y.sin()


@pytest.mark.parametrize("fn, shapes", [
    (_mul_diagonal, ((3, 3), (3,))),
    (_copy_into_narrow, ((4, 3), (2, 3))),
    (_add_into_row, ((3, 4), (4,))),
    (_view_used_after_its_inplace, ((3, 4), (2, 2))),
    (_view_of_view, ((3, 4), (2,))),
], ids=["diagonal_mul_", "narrow_copy_", "row_add_", "view_used_after", "view_of_view"])
def test_inplace_on_view_gradients(fn, shapes):
    check_grad(fn, *[rand(*s, rng=np.random.default_rng(i)) for i, s in enumerate(shapes)])


def test_inplace_on_view_values_and_history():
    x = t64(rand(3, 3), requires_grad=True)
    y = x * 1
    y.diagonal().mul_(2)
    expected = rand(3, 3) * (1 + np.eye(3))
    assert_close(y, expected)
    assert y.grad_fn.name() == "CopySlices"
    y.sum().backward()
    assert_close(x.grad, 1 + np.eye(3))


def test_inplace_on_view_of_base_without_grad():
    z = torch.zeros(4, 3, dtype=float_dtype())
    w = t64(rand(2, 3), requires_grad=True)
    z.narrow(0, 1, 2).copy_(w)
    assert z.requires_grad and z.grad_fn.name() == "CopySlices"
    (z * t64(np.arange(12.0).reshape(4, 3))).sum().backward()
    assert_close(w.grad, np.arange(3.0, 9.0).reshape(2, 3))


def test_second_order_through_copy_slices():
    if on_gpu():
        pytest.skip("gradgradcheck needs float64, which the GPU lacks; the CPU run covers it")
    x, w = t64(rand(3, 3), requires_grad=True), t64(rand(3), requires_grad=True)
    assert gradgradcheck(lambda x, w: _mul_diagonal(x, w) ** 2, [x, w])


def test_version_counter_catches_saved_tensor_changed_through_view():
    x = t64(rand(3), requires_grad=True)
    a = x * 1
    b = a * a
    a[0].mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_inplace_on_view_of_leaf_requiring_grad_raises():
    x = t64(rand(3, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an in-place operation"):
        x[0].mul_(2)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        x.diagonal().zero_()
    with torch.no_grad():
        x[0].mul_(2)
    assert_close(x, rand(3, 3) * np.array([[2.0], [1.0], [1.0]]))


def test_inplace_on_view_made_in_no_grad_raises():
    x = t64(rand(4), requires_grad=True)
    y = x * 1
    with torch.no_grad():
        v = y[:2]
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode"):
        v.mul_(x[:2])


def test_diagonal_is_a_view():
    a = rand(3, 4, 2)
    t = t64(a)
    for offset, d1, d2 in [(0, 0, 1), (1, 0, 1), (-1, 1, 0), (2, 1, 0), (0, 0, 2), (-5, 0, 1)]:
        assert_close(t.diagonal(offset, d1, d2), np.diagonal(a, offset, d1, d2))
    t.diagonal().fill_(7)
    expected = a.copy()
    for i in range(3):
        expected[i, i] = 7
    assert_close(t, expected)
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical"):
        t.diagonal(0, 1, 1)


def test_diag_of_matrix_is_a_copy():
    t = t64(rand(3, 3))
    torch.diag(t).fill_(0)
    assert_close(t, rand(3, 3))
