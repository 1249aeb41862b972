"""Element-wise ops: forward against numpy (incl. broadcasting, views, 0-d and empty) and
backward against finite differences."""
import math

import numpy as np
import pytest

import ferrograd as torch
from helpers import assert_close, check_grad, data, noncontig, rand, t64

SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (3,)), ((0, 3), (3,)), ((5,), ())]

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (torch.maximum, np.maximum),
    "minimum": (torch.minimum, np.minimum),
    "atan2": (torch.atan2, np.arctan2),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
def test_binary_forward(name, sa, sb):
    f, ref = BINARY[name]
    a, b = rand(*sa), rand(*sb, rng=np.random.default_rng(1))
    assert_close(f(torch.tensor(a), torch.tensor(b)), ref(a, b), rtol=1e-12)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = f(torch.tensor(a32), torch.tensor(b32))
    assert out.dtype == torch.float32
    assert_close(out, ref(a32, b32), rtol=1e-6)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_backward(name):
    f, _ = BINARY[name]
    a, b = rand(3, 1), rand(4, rng=np.random.default_rng(5))
    check_grad(f, a, b)


def test_pow_forward_backward():
    a = rand(3, 4, low=0.5, high=2.0)
    b = rand(4, low=-1.5, high=1.5)
    assert_close(torch.tensor(a) ** torch.tensor(b), a ** b, rtol=1e-12)
    check_grad(lambda x, y: x ** y, a, b)
    check_grad(lambda x: x ** 3, a)
    check_grad(lambda x: 2.0 ** x, a)
    assert_close(torch.tensor([0.0, 2.0]) ** 0, [1.0, 1.0])


def test_non_contiguous_and_scalars():
    a = rand(4, 3)
    v = noncontig(a)
    assert_close(v * 2 + 1, a * 2 + 1)
    assert_close(1 - v, 1 - a)
    assert_close(2 / (v + 5), 2 / (a + 5))
    assert_close(v[::2] + v[1::2], a[::2] + a[1::2])


def test_floor_divide_remainder_follow_python():
    a = np.array([-7, -3, 3, 7], dtype=np.int64)
    b = np.array([2, -2, 2, -2], dtype=np.int64)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert torch.floor_divide(ta, tb).tolist() == list(a // b)
    assert (ta % tb).tolist() == list(a % b)
    fa = data(a) + 0.5
    assert_close(torch.tensor(fa) // torch.tensor(data(b)), fa // b)
    assert_close(torch.remainder(torch.tensor(fa), 2.0), np.remainder(fa, 2.0))


UNARY = {
    "neg": (torch.neg, np.negative, None),
    "abs": (torch.abs, np.abs, None),
    "exp": (torch.exp, np.exp, None),
    "log": (torch.log, np.log, "pos"),
    "log1p": (torch.log1p, np.log1p, "pos"),
    "expm1": (torch.expm1, np.expm1, None),
    "sqrt": (torch.sqrt, np.sqrt, "pos"),
    "rsqrt": (torch.rsqrt, lambda x: 1 / np.sqrt(x), "pos"),
    "square": (torch.square, np.square, None),
    "reciprocal": (torch.reciprocal, np.reciprocal, "pos"),
    "sin": (torch.sin, np.sin, None),
    "cos": (torch.cos, np.cos, None),
    "tan": (torch.tan, np.tan, "small"),
    "tanh": (torch.tanh, np.tanh, None),
    "sigmoid": (torch.sigmoid, lambda x: 1 / (1 + np.exp(-x)), None),
    "relu": (torch.relu, lambda x: np.maximum(x, 0), None),
    "erf": (torch.erf, np.vectorize(math.erf, otypes=[np.float64]), None),
    "logit": (torch.logit, lambda x: np.log(x / (1 - x)), "unit"),
}


def _domain(kind, shape, seed=0):
    if kind == "pos":
        return rand(*shape, low=0.3, high=3.0, rng=np.random.default_rng(seed))
    if kind == "unit":
        return rand(*shape, low=0.05, high=0.95, rng=np.random.default_rng(seed))
    if kind == "small":
        return rand(*shape, low=-1.0, high=1.0, rng=np.random.default_rng(seed))
    return rand(*shape, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(3, 4), (), (0,), (2, 1, 3)])
def test_unary_forward(name, shape):
    f, ref, dom = UNARY[name]
    a = _domain(dom, shape)
    assert_close(f(torch.tensor(a)), ref(a), rtol=1e-12, atol=1e-12)
    assert_close(f(torch.tensor(a.astype(np.float32))), ref(a).astype(np.float32), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_backward(name):
    f, _, dom = UNARY[name]
    a = _domain(dom, (2, 3), seed=3)
    if name in ("abs", "relu"):
        a = a + np.sign(a) * 0.1  # stay away from the kink
    check_grad(f, a)


def test_logit_eps_clamps_and_zeroes_the_gradient_outside():
    a = np.array([-0.5, 0.0, 0.1, 0.5, 0.9, 1.0, 1.5])
    eps = 0.2
    x = torch.tensor(a.astype(np.float32), requires_grad=True)
    y = x.logit(eps=eps)
    clamped = np.clip(a, eps, 1 - eps)
    assert_close(y, np.log(clamped / (1 - clamped)).astype(np.float32), rtol=1e-5, atol=1e-6)
    assert y.grad_fn.name() == "LogitBackward0"
    y.sum().backward()
    inside = (a >= eps) & (a <= 1 - eps)
    assert_close(x.grad, np.divide(1, a * (1 - a), out=np.zeros_like(a), where=inside).astype(np.float32), rtol=1e-5, atol=1e-6)
    # without eps, PyTorch's infinities at 0 and 1 and NaN outside [0, 1]
    assert_close(torch.logit(torch.tensor([0.0, 1.0, 2.0])), np.array([-np.inf, np.inf, np.nan], dtype=np.float32))
    z = torch.tensor([0.3, 0.6])
    z.logit_(eps=0.4)
    assert_close(z, np.log(np.array([0.4, 0.6]) / np.array([0.6, 0.4])).astype(np.float32), rtol=1e-5)
    check_grad(lambda t: torch.logit(t, eps=0.25), np.array([0.1, 0.3, 0.5, 0.8]))


def test_unary_non_contiguous_view():
    a = rand(3, 5)
    assert_close(torch.exp(noncontig(a)), np.exp(a))
    assert_close(torch.tensor(a)[:, ::2].sigmoid(), 1 / (1 + np.exp(-a[:, ::2])))


def test_rounding_and_sign_have_zero_grad():
    for f, ref in [(torch.floor, np.floor), (torch.ceil, np.ceil), (torch.round, np.round), (torch.sign, np.sign)]:
        a = data([-1.5, -0.5, 0.0, 0.5, 1.5, 2.5])
        assert_close(f(torch.tensor(a)), ref(a))
        x = t64(a, requires_grad=True)
        f(x).sum().backward()
        assert_close(x.grad, np.zeros_like(a))


def test_int_ops_promote_to_float():
    x = torch.tensor([1, 2, 3])
    assert torch.exp(x).dtype == torch.float32
    assert torch.sqrt(x).dtype == torch.float32
    assert (x / 2).dtype == torch.float32
    assert (x * 2).dtype == torch.int64
    assert (x * 2.5).dtype == torch.float32
    assert (-x).dtype == torch.int64
    assert torch.abs(torch.tensor([-3])).tolist() == [3]


def test_clamp_forward_backward():
    a = data([-2.0, -0.5, 0.3, 1.2, 3.0])
    assert_close(torch.clamp(torch.tensor(a), -1, 1), np.clip(a, -1, 1))
    assert_close(torch.clamp(torch.tensor(a), min=0), np.maximum(a, 0))
    assert_close(torch.clip(torch.tensor(a), max=0.5), np.minimum(a, 0.5))
    check_grad(lambda x: torch.clamp(x, -1.0, 1.0), a)
    lo, hi = torch.tensor([-1.0] * 5), torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0])
    assert_close(torch.clamp(torch.tensor(a), lo, hi), np.clip(a, lo.cpu().numpy(), hi.cpu().numpy()))
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        torch.clamp(torch.tensor(a))


def test_comparisons_and_logic():
    a, b = rand(3, 4), rand(4, rng=np.random.default_rng(2))
    ta, tb = torch.tensor(a), torch.tensor(b)
    for f, ref in [(torch.eq, np.equal), (torch.ne, np.not_equal), (torch.lt, np.less), (torch.le, np.less_equal),
                   (torch.gt, np.greater), (torch.ge, np.greater_equal)]:
        out = f(ta, tb)
        assert out.dtype == torch.bool
        np.testing.assert_array_equal(out.cpu().numpy(), ref(a, b))
    np.testing.assert_array_equal((ta > 0).cpu().numpy(), a > 0)
    np.testing.assert_array_equal((ta == ta).cpu().numpy(), np.ones_like(a, dtype=bool))
    m1, m2 = ta > 0, tb > 0
    np.testing.assert_array_equal(torch.logical_and(m1, m2).cpu().numpy(), (a > 0) & (b > 0))
    np.testing.assert_array_equal(torch.logical_or(m1, m2).cpu().numpy(), (a > 0) | (b > 0))
    np.testing.assert_array_equal(torch.logical_not(m1).cpu().numpy(), ~(a > 0))
    np.testing.assert_array_equal((~m1).cpu().numpy(), ~(a > 0))
    np.testing.assert_array_equal((m1 & m2).cpu().numpy(), (a > 0) & (b > 0))
    x = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert torch.isnan(x).tolist() == [False, True, False, False]
    assert torch.isinf(x).tolist() == [False, False, True, True]
    assert torch.isfinite(x).tolist() == [True, False, False, False]
    assert torch.allclose(ta, ta + 1e-9)
    assert not torch.allclose(ta, ta + 1e-3)
    assert torch.equal(ta, ta.clone()) and not torch.equal(ta, tb)
    assert torch.tensor([0, 0, 1]).any().item() and not torch.tensor([0, 0, 1]).all().item()
    np.testing.assert_array_equal((ta > 0).any(1).cpu().numpy(), (a > 0).any(1))
    np.testing.assert_array_equal((ta > 0).all(0, keepdim=True).cpu().numpy(), (a > 0).all(0, keepdims=True))


@pytest.mark.cpu_only("float64 promotion rules; float64 exists on the CPU only")
def test_type_promotion():
    f32 = torch.ones(2)
    f64 = torch.ones(2, dtype=torch.float64)
    i64 = torch.ones(2, dtype=torch.int64)
    b = torch.ones(2, dtype=torch.bool)
    assert (f32 + f64).dtype == torch.float64
    assert (f32 + 1.5).dtype == torch.float32
    assert (f32 + torch.tensor(1.5, dtype=torch.float64)).dtype == torch.float32
    assert (i64 + torch.tensor(1.5, dtype=torch.float64)).dtype == torch.float64
    assert (i64 + 1.5).dtype == torch.float32
    assert (b + 1).dtype == torch.int64
    assert (b + b).dtype == torch.bool
    assert (i64 + f32).dtype == torch.float32
    assert (torch.tensor(2) * 3).dtype == torch.int64


def test_where_and_masked_fill():
    a, b = rand(3, 4), rand(4, rng=np.random.default_rng(3))
    cond = a > 0
    assert_close(torch.where(torch.tensor(cond), torch.tensor(a), torch.tensor(b)), np.where(cond, a, b))
    assert_close(torch.where(torch.tensor(cond), torch.tensor(a), 0.0), np.where(cond, a, 0.0))
    check_grad(lambda x, y: torch.where(torch.tensor(cond), x, y), a, b)
    assert_close(torch.tensor(a).masked_fill(torch.tensor(cond), -1.0), np.where(cond, -1.0, a))
    check_grad(lambda x: x.masked_fill(torch.tensor(cond), 2.0), a)


def test_add_alpha_and_sub_alpha():
    a, b = rand(3), rand(3, rng=np.random.default_rng(4))
    assert_close(torch.add(torch.tensor(a), torch.tensor(b), alpha=2), a + 2 * b)
    assert_close(torch.sub(torch.tensor(a), torch.tensor(b), alpha=3), a - 3 * b)
    check_grad(lambda x, y: torch.add(x, y, alpha=0.5), a, b)


def test_empty_broadcasts_and_int64_overflow_edges():
    x = torch.rand(2, 0, 3)
    assert (x * 0.02).shape == (2, 0, 3)
    assert (x.transpose(0, 2) + torch.ones(3, 1, 1)).shape == (3, 0, 2)
    lo = torch.tensor([-2 ** 63, 7])
    assert (lo // -1).tolist() == [-2 ** 63, -7]  # wraps, as PyTorch's CPU kernel
    assert (lo % -1).tolist() == [0, 0]
