"""Scans and compaction on the GPU against the CPU: cumsum/cumprod (float32, int64, bool;
rows spanning one, several and over a thousand scan blocks), flip, prod, nonzero and what is
built on it (boolean-mask indexing, masked_select, torch.where(cond)), take; gradients
against the CPU's gradients.

Skipped when no GPU adapter is found, unless FERROGRAD_REQUIRE_GPU=1.
"""

import numpy as np
import pytest

import ferrograd as torch
from helpers import GPU, close_on_gpu, needs_gpu, np_of, output_and_grads, same_on_gpu

pytestmark = needs_gpu








def _near_one(shape):
    """float32 factors of magnitude 0.99..1.01 and random sign, so long products stay in range
    (built in numpy: CPU arithmetic on some empty shapes is a separate bug)."""
    a = np.random.uniform(0.99, 1.01, shape) * np.random.choice([-1.0, 1.0], shape)
    return torch.tensor(a.astype(np.float32))


def _sparse(shape):
    """float32 with about 60% zeros."""
    a = np.random.randn(*shape) * (np.random.rand(*shape) > 0.6)
    return torch.tensor(np.asarray(a, dtype=np.float32))


def _grads_match(fn, *inputs, rtol=1e-4, atol=1e-5):
    oc, gc = output_and_grads(fn, *inputs, device="cpu")
    og, gg = output_and_grads(fn, *inputs, device=GPU)
    np.testing.assert_allclose(np_of(og), np_of(oc), rtol=rtol, atol=atol)
    for a, c in zip(gg, gc):
        np.testing.assert_allclose(np_of(a), np_of(c), rtol=rtol, atol=atol)
    return gc


# (shape, dim): empty, 0-d, odd lengths, one block (1024), just past it, rows of 5000
# (several blocks), scans along a leading dim (strided rows).
SCAN_CASES = [((0,), 0), ((), 0), ((2, 0, 3), 1), ((2, 0, 3), 2), ((7,), 0), ((1024,), 0), ((1025,), -1),
              ((5000,), 0), ((3, 5000), 1), ((2100, 3), 0), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 2),
              ((4, 1, 300), -1)]


@pytest.mark.parametrize("shape,dim", SCAN_CASES)
def test_cumsum_float_matches_cpu(shape, dim):
    x = torch.randn(*shape)
    close_on_gpu(torch.cumsum(x.to(GPU), dim), torch.cumsum(x, dim), rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("shape,dim", SCAN_CASES)
def test_cumprod_float_matches_cpu(shape, dim):
    x = _near_one(shape)
    close_on_gpu(torch.cumprod(x.to(GPU), dim), torch.cumprod(x, dim), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dim", [0, 1])
def test_scans_of_non_contiguous_views(dim):
    x = torch.randn(40, 1100)
    for view in (lambda t: t.t(), lambda t: t[::3, 1::2], lambda t: t[:, 5:1030].t().contiguous().t()):
        close_on_gpu(view(x.to(GPU)).cumsum(dim), view(x).cumsum(dim), rtol=1e-4, atol=2e-4)
        v = view(x * 0.01 + 1)
        close_on_gpu(view((x * 0.01 + 1).to(GPU)).cumprod(dim), v.cumprod(dim), rtol=1e-4, atol=1e-6)
    e = torch.randn(3, 4).expand(5, 3, 4)
    close_on_gpu(e.to(GPU).cumsum(0), e.cumsum(0))


def test_cumsum_over_a_million_elements_exact_in_int64():
    # 1,050,000 elements: 1026 blocks, whose totals need a second level of block totals
    n = 1_050_000
    x = torch.randint(-3, 4, (n,))
    same_on_gpu(torch.cumsum(x.to(GPU), 0), torch.cumsum(x, 0))
    ones = torch.ones(n)
    r = torch.cumsum(ones.to(GPU), 0)
    assert r[-1].item() == n and r[123_456].item() == 123_457


@pytest.mark.parametrize("shape,dim", [((0,), 0), ((), 0), ((9,), 0), ((3, 2500), 1), ((1500, 2), 0), ((2, 3, 4), 1)])
def test_int_scans_exact_with_wrapping(shape, dim):
    x = torch.randint(-1000, 1000, shape)
    same_on_gpu(torch.cumsum(x.to(GPU), dim), torch.cumsum(x, dim))
    big = torch.randint(-(2 ** 40), 2 ** 40, shape)
    same_on_gpu(torch.cumsum(big.to(GPU), dim), torch.cumsum(big, dim))
    # products overflow int64 after a few steps and wrap, as on the CPU
    same_on_gpu(torch.cumprod(x.to(GPU), dim), torch.cumprod(x, dim))
    b = torch.rand(*shape) > 0.3
    same_on_gpu(torch.cumsum(b.to(GPU), dim), torch.cumsum(b, dim))
    same_on_gpu(torch.cumprod(b.to(GPU), dim), torch.cumprod(b, dim))
    assert torch.cumsum(b.to(GPU), dim).dtype == torch.int64
    close_on_gpu(torch.cumsum(x.to(GPU), dim, dtype=torch.float32), torch.cumsum(x, dim, dtype=torch.float32))


@pytest.mark.parametrize("shape,dim", [((), 0), ((6,), 0), ((3, 1500), 1), ((4, 5), 0), ((2, 3, 4), -1)])
def test_scan_gradients_match_cpu(shape, dim):
    x, w = torch.randn(*shape), torch.randn(*shape)
    _grads_match(lambda a, b: (a.cumsum(dim) * b).sum(), x, w)
    _grads_match(lambda a, b: (a.cumprod(dim) * b).sum(), _near_one(shape), w)


def _cumprod_grad_reference(x, g):
    """d/dx_i of sum_j g_j cumprod(x)_j along the last dim, by brute force in float64."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    out = np.zeros_like(x)
    for r in np.ndindex(x.shape[:-1]):
        k = x.shape[-1]
        for i in range(k):
            out[r + (i,)] = sum(g[r + (j,)] * np.prod([x[r + (m,)] for m in range(j + 1) if m != i]) for j in range(i, k))
    return out


def test_cumprod_gradient_with_zeros_matches_reference_on_both_devices():
    x = torch.randn(5, 7)
    x[0, 3] = 0.0  # one zero
    x[1, 0] = 0.0  # a leading zero
    x[2, 2] = 0.0
    x[2, 5] = 0.0  # two zeros
    x[3, 6] = 0.0  # a trailing zero; row 4 has none
    w = torch.randn(5, 7)
    gc = _grads_match(lambda a, b: (a.cumprod(1) * b).sum(), x, w)
    np.testing.assert_allclose(np_of(gc[0]), _cumprod_grad_reference(np_of(x), np_of(w)), rtol=1e-4, atol=1e-5)
    gt = _grads_match(lambda a, b: (a.t().cumprod(0) * b.t()).sum(), x, w)
    np.testing.assert_allclose(np_of(gt[0]), _cumprod_grad_reference(np_of(x), np_of(w)), rtol=1e-4, atol=1e-5)


def test_cumprod_with_zeros_has_a_second_derivative():
    x = torch.tensor([[0.5, 0.0, 2.0, -1.5], [1.5, -0.5, 0.0, 0.0]])
    results = []
    for dev in ("cpu", GPU):
        a = x.to(dev).requires_grad_(True)
        (g,) = torch.autograd.grad(a.cumprod(1).sum(), a, create_graph=True)
        (gg,) = torch.autograd.grad((g * g).sum(), a)
        results.append((g, gg))
    for a, c in zip(results[1], results[0]):
        np.testing.assert_allclose(np_of(a), np_of(c), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_flip_matches_cpu(dtype):
    base = torch.randn(3, 4, 5) * 100
    x = base.to(dtype) if dtype is not torch.bool else base > 0
    for dims in ([0], [1], [2], [-1], [0, 2], [0, 1, 2], []):
        same_on_gpu(torch.flip(x.to(GPU), dims), torch.flip(x, dims))
    same_on_gpu(x.to(GPU).permute(2, 0, 1)[:, ::2].flip(0, 2), x.permute(2, 0, 1)[:, ::2].flip(0, 2))
    same_on_gpu(torch.fliplr(x.to(GPU)[0]), torch.fliplr(x[0]))
    same_on_gpu(torch.flipud(x.to(GPU)[:, 1]), torch.flipud(x[:, 1]))
    s = x[0, 0, 0]
    same_on_gpu(s.to(GPU).flip([]), s.flip([]))
    e = x[:, :0]
    same_on_gpu(e.to(GPU).flip(1), e.flip(1))


def test_flip_long_rows_and_gradient():
    x = torch.randn(2, 5000)
    same_on_gpu(x.to(GPU).flip(1), x.flip(1))
    same_on_gpu(x.to(GPU).t().flip(0), x.t().flip(0))
    w = torch.randn(5000, 2)
    _grads_match(lambda a, b: (a.t().flip(0, 1) * b).sum(), x, w)


PROD_CASES = [((), None, False), ((7,), None, False), ((5000,), None, False), ((3, 4), 1, False), ((3, 4), 0, True),
              ((2, 3, 4), 0, False), ((2, 3, 4), 2, True), ((2, 3, 4), -1, True), ((3, 0), 1, False),
              ((3, 0), 0, False), ((0,), None, False), ((6, 1100), 1, False)]


@pytest.mark.parametrize("shape,dim,keepdim", PROD_CASES)
def test_prod_matches_cpu(shape, dim, keepdim):
    x = _near_one(shape)
    f = (lambda t: torch.prod(t)) if dim is None else (lambda t: torch.prod(t, dim, keepdim))
    close_on_gpu(f(x.to(GPU)), f(x), rtol=1e-4, atol=1e-6)
    if x.ndim == 2:
        close_on_gpu(f(x.t().to(GPU).t()), f(x), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_gradients_match_cpu(zeros):
    x = torch.randn(4, 6)
    if zeros >= 1:
        x[1, 2] = 0.0
    if zeros >= 2:
        x[1, 4] = 0.0
        x[3, 0] = 0.0
    w = torch.randn(4)
    _grads_match(lambda a, b: (a.prod(1) * b).sum(), x, w)
    _grads_match(lambda a, b: a.prod() + (a.t().prod(0, keepdim=True) * b).sum(), x, w)


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_of_int64_and_bool_matches_cpu(dim):
    # Products past 2^63 wrap, as on the CPU; bool gives int64.
    x = torch.tensor([[2 ** 20, 3, -5], [2 ** 40, 2 ** 30, 7], [1, -1, 0]] * 100)
    for t in (x, x > 0):
        want = t.prod() if dim is None else t.prod(dim)
        got = t.to(GPU).prod() if dim is None else t.to(GPU).prod(dim)
        assert got.dtype == want.dtype == torch.int64
        assert got.cpu().tolist() == want.tolist()


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (5000,), (3, 4, 5), (2, 0, 3), (40, 60)])
def test_nonzero_matches_cpu(shape):
    x = _sparse(shape)
    for t in (x, torch.tensor(np_of(x) != 0), torch.tensor((np_of(x) * 10).astype(np.int64))):
        same_on_gpu(torch.nonzero(t.to(GPU)), torch.nonzero(t))
        for a, c in zip(torch.nonzero(t.to(GPU), as_tuple=True), torch.nonzero(t, as_tuple=True)):
            same_on_gpu(a, c)
        same_on_gpu(torch.argwhere(t.to(GPU)), torch.argwhere(t))
    same_on_gpu(torch.nonzero(torch.zeros(*shape).to(GPU)), torch.nonzero(torch.zeros(*shape)))
    same_on_gpu(torch.nonzero(torch.ones(*shape).to(GPU)), torch.nonzero(torch.ones(*shape)))


def test_special_values_match_cpu():
    x = torch.tensor([0.0, -0.0, float("nan"), 1.0, float("inf"), -2.0, 0.0])
    same_on_gpu(torch.nonzero(x.to(GPU)), torch.nonzero(x))
    close_on_gpu(torch.cumsum(x.to(GPU), 0), torch.cumsum(x, 0))
    close_on_gpu(torch.cumprod(x.to(GPU), 0), torch.cumprod(x, 0))
    close_on_gpu(torch.prod(x.to(GPU)), torch.prod(x))
    close_on_gpu(torch.prod(x[3:].to(GPU)), torch.prod(x[3:]))


def test_nonzero_of_views_and_0d():
    x = torch.randn(30, 50) > 0.3
    same_on_gpu(x.to(GPU).t().nonzero(), x.t().nonzero())
    same_on_gpu(x.to(GPU)[::2, 3::4].nonzero(), x[::2, 3::4].nonzero())
    for v in (True, False):
        s = torch.tensor(v)
        (a,) = torch.where(s.to(GPU))
        same_on_gpu(a, torch.tensor([0] if v else [], dtype=torch.int64))
        same_on_gpu(torch.nonzero(s.to(GPU)), torch.nonzero(s))


def test_boolean_mask_indexing_masked_select_and_where():
    x = torch.randn(6, 7, 3)
    m = x[..., 0] > 0
    close_on_gpu(x.to(GPU)[m.to(GPU)], x[m])
    close_on_gpu(x.to(GPU)[:, m[0].to(GPU)], x[:, m[0]])
    close_on_gpu(x.to(GPU)[x.to(GPU) > 0.5], x[x > 0.5])
    close_on_gpu(torch.masked_select(x.to(GPU), (x > 0).to(GPU)), torch.masked_select(x, x > 0))
    close_on_gpu(torch.masked_select(x.to(GPU), m[0, :3].to(GPU)), torch.masked_select(x, m[0, :3]))  # broadcast mask
    for a, c in zip(torch.where(m.to(GPU)), torch.where(m)):
        same_on_gpu(a, c)
    empty = x.to(GPU)[torch.zeros(6, 7, dtype=torch.bool).to(GPU)]
    assert empty.shape == (0, 3) and empty.device.type == "gpu"
    close_on_gpu(torch.masked_select(x.to(GPU), (x > 9).to(GPU)), torch.masked_select(x, x > 9))


def test_boolean_mask_indexing_gradient():
    x, w = torch.randn(5, 8), torch.randn(5, 8)
    m = x > 0
    _grads_match(lambda a, b: (a[m.to(a.device)] * b[m.to(a.device)]).sum() + torch.masked_select(a, m.to(a.device)).square().sum(), x, w)


def test_boolean_mask_setitem():
    x = torch.randn(4, 300)
    m = x > 0
    g = x.to(GPU)
    g[m.to(GPU)] = 0.5
    x[m] = 0.5
    close_on_gpu(g, x)


@pytest.mark.parametrize("xshape", [(), (7,), (3, 4), (50, 110)])
def test_take_matches_cpu(xshape):
    x = torch.randn(*xshape)
    n = x.numel()
    for ishape in ((), (0,), (5,), (2, 3), (4000,)):
        index = torch.randint(-n, n, ishape)
        close_on_gpu(torch.take(x.to(GPU), index.to(GPU)), torch.take(x, index))
    if x.ndim == 2:
        index = torch.randint(-n, n, (6, 9))
        close_on_gpu(torch.take(x.to(GPU).t(), index.to(GPU).t()), torch.take(x.t(), index.t()))
        v = x[::2, 1::3]
        inside = index % v.numel() - v.numel() // 2
        close_on_gpu(torch.take(x.to(GPU)[::2, 1::3], inside.to(GPU)), torch.take(v, inside))


def test_take_out_of_range_raises_index_error():
    x = torch.randn(3, 4).to(GPU)
    for bad in (12, -13, 2 ** 40):
        idx = torch.tensor([0, 5, bad, 1]).to(GPU)
        with pytest.raises(IndexError, match=f"index {bad} is out of bounds for dimension 0 with size 12"):
            torch.take(x, idx)
    with pytest.raises(IndexError, match="out of bounds"):
        torch.take(torch.randn(0).to(GPU), torch.tensor([0]).to(GPU))
    with pytest.raises(RuntimeError, match="same device"):
        torch.take(x, torch.tensor([0]))


def test_take_gradient_matches_cpu():
    x, w = torch.randn(4, 5), torch.randn(3, 3)
    index = torch.tensor([[0, -1, 7], [7, 7, 19], [3, 0, -20]])
    _grads_match(lambda a, b: (torch.take(a, index.to(a.device)) * b).sum(), x, w)


def test_unsupported_dtypes_name_the_op():
    d = torch.randn(5).double().to(GPU)
    with pytest.raises(NotImplementedError, match="cumsum.*gpu:0.*float64"):
        d.cumsum(0)
    # (int64 take runs, through index_select: only the float64 op above is refused)
    assert torch.take(torch.arange(5).to(GPU), torch.tensor([1, -1]).to(GPU)).cpu().tolist() == [1, 4]
