"""GPU sort family (sort, argsort, msort, topk, kthvalue, median), scatter, index_put / setitem
with index tensors, int64 arithmetic and reductions, and the ops that used to go through
numpy (multinomial, Embedding max_norm, pickling): each against the CPU or numpy, with
gradients against the CPU's.

Skipped without a GPU adapter unless FERROGRAD_REQUIRE_GPU=1 (then a missing adapter fails).
"""
import pickle

import numpy as np
import pytest

import ferrograd as torch
from helpers import GPU, close_on_gpu, needs_gpu, np_of, same_on_gpu
import ferrograd.nn as nn

pytestmark = needs_gpu






def _leaf(t, dev):
    """A fresh leaf copy of `t` on `dev` that requires grad."""
    return t.detach().to(dev).clone().requires_grad_(True)




def _with_ties_and_nans(shape, seed):
    """Float32 values with many duplicates, a few NaNs, infinities and both zeros."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-4, 5, size=shape).astype(np.float32) * 0.5
    flat = a.reshape(-1)
    if flat.size:
        k = max(1, flat.size // 13)
        flat[rng.choice(flat.size, size=k, replace=False)] = np.nan
        flat[rng.choice(flat.size, size=1)] = np.inf
        flat[rng.choice(flat.size, size=1)] = -np.inf
        flat[rng.choice(flat.size, size=1)] = -0.0
    return torch.tensor(a)


SHAPES_DIMS = [((), 0), ((1,), 0), ((0,), 0), ((5,), -1), ((3, 0), 1), ((0, 4), 1), ((7, 1), 1), ((7, 1), 0),
               ((4, 37), 1), ((4, 37), 0), ((2, 3, 5), 1), ((3, 1025), 1), ((2, 3000), 1), ((3000, 2), 0),
               ((1, 4100), -1), ((513, 3), 0)]


@pytest.mark.parametrize("shape,dim", SHAPES_DIMS, ids=[f"{s}-{d}" for s, d in SHAPES_DIMS])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_float_matches_cpu_and_numpy(shape, dim, descending):
    x = _with_ties_and_nans(shape, seed=len(shape) * 7 + sum(shape))
    g = torch.sort(x.to(GPU), dim, descending=descending)
    c = torch.sort(x, dim, descending=descending)
    same_on_gpu(g.values, c.values)
    same_on_gpu(g.indices, c.indices)
    if x.ndim:
        a = x.numpy()
        if descending:
            # Stable descending order: NaN first, then larger values, ties in input order.
            key = np.where(np.isnan(a), -np.inf, -a)
            rank_nan = np.where(np.isnan(a), 0, 1)
            order = np.argsort(key, axis=dim, kind="stable")
            nan_order = np.take_along_axis(rank_nan, order, axis=dim)
            order = np.take_along_axis(order, np.argsort(nan_order, axis=dim, kind="stable"), axis=dim)
        else:
            order = np.argsort(a, axis=dim, kind="stable")
        np.testing.assert_array_equal(np_of(g.indices), order)
        np.testing.assert_array_equal(np_of(g.values), np.take_along_axis(a, order, axis=dim))


@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 1024, 1025, 2048, 3000, 8193])
def test_sort_int64_and_bool_rows(n):
    rng = np.random.default_rng(n)
    big = rng.integers(-2**62, 2**62, size=(2, n), dtype=np.int64)
    big[:, ::3] = big[:, :1]  # duplicates for stability
    big[0, -1] = 2**63 - 1
    big[1, 0] = -2**63
    big[0, 0] = 2**32 + 1
    big[1, -1] = 2**32 - 1
    x = torch.tensor(big)
    for desc in (False, True):
        g, c = torch.sort(x.to(GPU), 1, descending=desc), torch.sort(x, 1, descending=desc)
        same_on_gpu(g.values, c.values)
        same_on_gpu(g.indices, c.indices)
    order = np.argsort(big, axis=1, kind="stable")
    np.testing.assert_array_equal(np_of(torch.argsort(x.to(GPU), 1)), order)
    b = torch.tensor(rng.integers(0, 2, size=(3, n)).astype(bool))
    for desc in (False, True):
        g, c = torch.sort(b.to(GPU), -1, descending=desc), torch.sort(b, -1, descending=desc)
        same_on_gpu(g.values, c.values)
        same_on_gpu(g.indices, c.indices)


def test_sort_non_contiguous_and_gradients():
    torch.manual_seed(0)
    base = torch.randn(6, 40, 3)
    base[:, ::4] = 0.25  # ties
    for dim in (0, 1, 2, -1):
        grads = []
        outs = []
        for dev in (GPU, "cpu"):
            x = base.to(dev).permute(2, 1, 0).requires_grad_(True)
            v, i = torch.sort(x, dim, descending=dim == 1)
            w = torch.arange(v.numel(), dtype=torch.float32).reshape(v.shape).to(dev)
            (v * w).sum().backward()
            outs.append((v, i))
            grads.append(x.grad)
        same_on_gpu(outs[0][0], outs[1][0])
        same_on_gpu(outs[0][1], outs[1][1])
        close_on_gpu(grads[0], grads[1], atol=1e-6)
        assert outs[0][0].grad_fn.name() == "SortBackward0"


def test_argsort_msort_topk_kthvalue():
    x = _with_ties_and_nans((5, 300), seed=3)
    for dev_x, cpu_x in ((x.to(GPU), x), (x.t().to(GPU), x.t())):
        same_on_gpu(torch.argsort(dev_x, 0, descending=True), torch.argsort(cpu_x, 0, descending=True))
        same_on_gpu(torch.msort(dev_x), torch.msort(cpu_x))
        same_on_gpu(dev_x.msort(), cpu_x.msort())
        for k in (0, 1, 4):
            for largest in (True, False):
                g, c = torch.topk(dev_x, k, 0, largest=largest), torch.topk(cpu_x, k, 0, largest=largest)
                same_on_gpu(g.values, c.values)
                same_on_gpu(g.indices, c.indices)
        for k in (1, 3, 5):
            g, c = torch.kthvalue(dev_x, k, 0), cpu_x.kthvalue(k, 0)
            same_on_gpu(g.values, c.values)
            same_on_gpu(g.indices, c.indices)
            g = torch.kthvalue(dev_x, k, 0, keepdim=True)
            assert tuple(g.values.shape) == (1, dev_x.shape[1])
    y = torch.tensor([[3.0, 1.0, 2.0, 5.0]])
    assert torch.kthvalue(y.to(GPU), 2).values.cpu().tolist() == [2.0]
    assert torch.topk(y.to(GPU), 2).indices.cpu().tolist() == [[3, 0]]
    with pytest.raises(RuntimeError, match="out of range"):
        torch.topk(y.to(GPU), 5)
    with pytest.raises(RuntimeError, match="out of range"):
        torch.kthvalue(y.to(GPU), 0)


def test_topk_gradient_matches_cpu():
    torch.manual_seed(1)
    base = torch.randn(4, 3000)
    grads = []
    for dev in (GPU, "cpu"):
        x = _leaf(base, dev)
        v = torch.topk(x, 5, 1).values
        (v * v).sum().backward()
        grads.append(x.grad)
    close_on_gpu(grads[0], grads[1], atol=1e-6)


@pytest.mark.parametrize("shape,dim", [((9,), 0), ((4, 6), 1), ((4, 6), 0), ((3, 2, 7), -1), ((2, 3000), 1)])
def test_median_with_and_without_nan(shape, dim):
    torch.manual_seed(2)
    x = torch.randn(*shape)
    x.view(-1)[::5] = 0.5
    xn = x.clone()
    xn.view(-1)[1] = float("nan")
    for t in (x, xn):
        for keepdim in (False, True):
            g, c = torch.median(t.to(GPU), dim, keepdim=keepdim), torch.median(t, dim, keepdim=keepdim)
            same_on_gpu(g.values, c.values)
            same_on_gpu(g.indices, c.indices)
        same_on_gpu(torch.median(t.to(GPU)), torch.median(t))
    assert np.isnan(torch.median(xn.to(GPU)).item())
    assert torch.median(x.to(GPU)).item() == float(np.sort(x.numpy().reshape(-1))[(x.numel() - 1) // 2])
    gx = [None, None]
    for k, dev in enumerate((GPU, "cpu")):
        t = _leaf(x, dev)
        torch.median(t, dim).values.sum().backward()
        gx[k] = t.grad
    close_on_gpu(gx[0], gx[1], atol=1e-6)
    i = torch.tensor([5, -3, 7, 7, 0, 2**40])
    same_on_gpu(torch.median(i.to(GPU)), torch.median(i))
    same_on_gpu(torch.median(i.to(GPU), 0).indices, torch.median(i, 0).indices)


# ---------------------------------------------------------------------------- scatter, index_put

@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_scatter_tensor_and_value_last_writer_wins(dtype):
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.integers(-5, 5, size=(5, 300))).to(dtype)
    idx = torch.tensor(rng.integers(0, 300, size=(4, 700)))  # many duplicates per row (negatives are refused)
    src = torch.tensor(rng.integers(-2**40, 2**40, size=(4, 701))).to(dtype)
    for dim, index in ((1, idx), (0, idx[:, :5] % 5)):
        g = x.to(GPU).scatter(dim, index.to(GPU), src.to(GPU))
        same_on_gpu(g, x.scatter(dim, index, src))
        g = torch.scatter(x.to(GPU), dim, index.to(GPU), value=1)
        same_on_gpu(g, torch.scatter(x, dim, index, value=1))
    xt = x.t()  # a non-contiguous self
    same_on_gpu(xt.to(GPU).scatter(0, idx.t().to(GPU) % 300, src.t().to(GPU)), xt.scatter(0, idx.t() % 300, src.t()))
    e = torch.zeros(0, 3, dtype=torch.int64)
    same_on_gpu(x.to(GPU).scatter(1, e.to(GPU), src.to(GPU)), x.scatter(1, e, src))


def test_scatter_errors_and_gradients():
    x = torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="out of bounds"):  # PyTorch's type for scatter indices
        x.to(GPU).scatter(1, torch.tensor([[4]]).to(GPU), 1.0)
    with pytest.raises(RuntimeError, match="out of bounds"):
        x.to(GPU).scatter(1, torch.tensor([[-1]]).to(GPU), 1.0)
    with pytest.raises(RuntimeError):
        x.to(GPU).scatter(1, torch.tensor([[0]]), 1.0)  # index on the CPU
    idx = torch.tensor([[0, 3, 3], [1, 1, 2], [2, 0, 1]])
    src = torch.randn(3, 3)
    grads = []
    for dev in (GPU, "cpu"):
        xx, ss = _leaf(x, dev), _leaf(src, dev)
        out = xx.scatter(1, idx.to(dev), ss)
        (out * out * torch.arange(12.0).reshape(3, 4).to(dev)).sum().backward()
        grads.append((out, xx.grad, ss.grad))
    for a, b in zip(grads[0], grads[1]):
        close_on_gpu(a, b, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_index_put_and_setitem(dtype):
    rng = np.random.default_rng(5)
    base = torch.tensor(rng.integers(-9, 9, size=(6, 5, 4))).to(dtype)
    rows = torch.tensor([0, -1, 3, 3, 5])
    cols = torch.tensor([4, 0, 2, 2, 1])
    vals = torch.tensor(rng.integers(-2**40, 2**40, size=(5, 4))).to(dtype)
    for acc in (False, True):
        g = torch.index_put(base.to(GPU), (rows.to(GPU), cols.to(GPU)), vals.to(GPU), accumulate=acc)
        same_on_gpu(g, torch.index_put(base, (rows, cols), vals, accumulate=acc))
        g = base.to(GPU).index_put((rows.to(GPU),), torch.tensor(True if dtype == torch.bool else 3).to(dtype), accumulate=acc)
        same_on_gpu(g, base.index_put((rows,), torch.tensor(True if dtype == torch.bool else 3).to(dtype), accumulate=acc))
    big = torch.tensor(2**40 + 7) if dtype == torch.int64 else torch.tensor(1).to(dtype)
    for key in ((rows, cols), (slice(None), torch.tensor([1, 3])), (2, slice(1, 4), torch.tensor([0, -1])),
                (torch.tensor([[0, 1], [2, 3]]),), (Ellipsis, torch.tensor([3]))):
        gk = tuple(k.to(GPU) if isinstance(k, torch.Tensor) else k for k in key)
        g, c = base.to(GPU), base.clone()
        g[gk] = big.item()
        c[key] = big.item()
        same_on_gpu(g, c)
        g[gk] = vals[0, 0].to(GPU)
        c[key] = vals[0, 0]
        same_on_gpu(g, c)
    g = base.to(GPU)
    with pytest.raises(IndexError, match="out of bounds"):
        g[torch.tensor([6]).to(GPU)] = 1
    with pytest.raises(IndexError, match="out of bounds"):
        torch.index_put(g, (torch.tensor([-7]).to(GPU),), torch.tensor(1).to(dtype), accumulate=True)


def test_setitem_bool_mask_on_gpu():
    torch.manual_seed(7)
    x = torch.randn(5, 4, 3)
    for mask in (x > 0, x[:, :, 0] > 0, x[:, 0, 0] > 0):
        for value in (0.5, -2, torch.tensor(3.0)):
            g, c = x.to(GPU), x.clone()
            g[mask.to(GPU)] = value if not isinstance(value, torch.Tensor) else value.to(GPU)
            c[mask] = value
            same_on_gpu(g, c)
    i = torch.tensor([[2**40, -3], [5, 2**33]])
    g, c = i.to(GPU), i.clone()
    g[g > 4] = 2**35 + 1
    c[c > 4] = 2**35 + 1
    same_on_gpu(g, c)
    res = []
    for dev in (GPU, "cpu"):
        xx, v = _leaf(x, dev), _leaf(torch.tensor(1.5), dev)
        y = xx * 2.0
        y[(x > 0).to(dev)] = v * 3
        (y * y).sum().backward()
        res.append((y, xx.grad, v.grad))
    for a, b in zip(res[0], res[1]):
        close_on_gpu(a, b, atol=1e-6)


def test_index_put_accumulate_duplicates_and_gradients():
    torch.manual_seed(6)
    x = torch.randn(7, 3)
    idx = torch.tensor([1, 1, 1, 6, 0, -1])
    v = torch.randn(6, 3)
    res = []
    for dev in (GPU, "cpu"):
        xx, vv = _leaf(x, dev), _leaf(v, dev)
        out = torch.index_put(xx, (idx.to(dev),), vv, accumulate=True)
        (out * out).sum().backward()
        res.append((out, xx.grad, vv.grad))
    for a, b in zip(res[0], res[1]):
        close_on_gpu(a, b, atol=1e-6)
    # setitem with autograd through the value
    res = []
    for dev in (GPU, "cpu"):
        xx, vv = _leaf(x, dev), _leaf(v[:2], dev)
        y = xx * 1.0
        y[torch.tensor([4, 2]).to(dev)] = vv * 2
        (y * y).sum().backward()
        res.append((y, xx.grad, vv.grad))
    for a, b in zip(res[0], res[1]):
        close_on_gpu(a, b, atol=1e-6)


# ---------------------------------------------------------------------------- int64 arithmetic

INT_VALS = [0, 1, -1, 2, -2, 3, -3, 7, -7, 2**31, -2**31, 2**32 + 5, -(2**32) - 5, 2**40 + 3, -(2**40) - 3,
            2**62 + 2**33 + 1, -(2**62), 2**63 - 1, -2**63 + 1, 12345678912345]


def _int_pairs():
    rng = np.random.default_rng(7)
    a = np.array(INT_VALS * len(INT_VALS), dtype=np.int64)
    b = np.repeat(np.array(INT_VALS, dtype=np.int64), len(INT_VALS))
    ra = rng.integers(-2**63, 2**63 - 1, size=300, dtype=np.int64)
    rb = rng.integers(-2**40, 2**40, size=300, dtype=np.int64)
    rb[rb == 0] = 1
    return torch.tensor(np.concatenate([a, ra])), torch.tensor(np.concatenate([b, rb]))


def test_int64_floor_divide_remainder_mul_div_exact():
    a, b = _int_pairs()
    nz = b != 0
    a, b = a[nz], b[nz]
    ga, gb = a.to(GPU), b.to(GPU)
    for op in ("floor_divide", "remainder", "mul", "add", "sub", "maximum", "minimum"):
        f = getattr(torch, op)
        same_on_gpu(f(ga, gb), f(a, b))
        same_on_gpu(f(ga[::2], gb[1::2]), f(a[::2], b[1::2]))
    for s in (2, -3, 7, 2**33 + 1, -(2**35)):
        same_on_gpu(ga // s, a // s)
        same_on_gpu(ga % s, a % s)
        same_on_gpu(ga * s, a * s)
    # Python's rules: the quotient floors, the remainder takes the divisor's sign
    assert (torch.tensor([-7, 7, -7, 7]).to(GPU) // torch.tensor([2, -2, -2, 2]).to(GPU)).cpu().tolist() == [-4, -4, 3, 3]
    assert (torch.tensor([-7, 7, -7, 7]).to(GPU) % torch.tensor([2, -2, -2, 2]).to(GPU)).cpu().tolist() == [1, -1, -1, 1]
    close_on_gpu(ga / gb, a / b, atol=1e-6)
    close_on_gpu(ga.float() / 3, a / 3, atol=1e-6)
    assert (ga / gb).dtype == torch.float32
    with pytest.raises(NotImplementedError, match="Bool|bool"):  # as PyTorch 2.15, on both devices
        torch.tensor([True, False]).to(GPU) // torch.tensor([True, True]).to(GPU)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        ga // torch.tensor(0).to(GPU)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        ga % 0


@pytest.mark.parametrize("shape,dims", [((0,), None), ((), None), ((1,), None), ((7,), None), ((5000,), None),
                                        ((3, 5), 0), ((3, 5), 1), ((4, 3, 6), (0, 2)), ((2, 9000), 1),
                                        ((9000, 2), 0)])
def test_int64_reductions_exact(shape, dims):
    rng = np.random.default_rng(8)
    a = rng.integers(-2**60, 2**60, size=shape, dtype=np.int64)
    x = torch.tensor(a)
    g = x.to(GPU)
    kw = {} if dims is None else {"dim": dims}
    same_on_gpu(g.sum(**kw), x.sum(**kw))
    if x.numel():
        same_on_gpu(g.amax(**kw), x.amax(**kw))
        same_on_gpu(g.amin(**kw), x.amin(**kw))
        same_on_gpu(g.max(), x.max())
        same_on_gpu(g.min(), x.min())
        same_on_gpu(g.argmax(), x.argmax())
        same_on_gpu(g.argmin(), x.argmin())
        if isinstance(dims, int):
            for keepdim in (False, True):
                gv, cv = g.max(dims, keepdim=keepdim), x.max(dims, keepdim=keepdim)
                same_on_gpu(gv.values, cv.values)
                same_on_gpu(gv.indices, cv.indices)
                gv, cv = g.min(dims, keepdim=keepdim), x.min(dims, keepdim=keepdim)
                same_on_gpu(gv.values, cv.values)
                same_on_gpu(gv.indices, cv.indices)


def test_int64_sums_past_32_bits_and_counts():
    x = torch.tensor([2**40, 2**40 + 1, -(2**33), 2**62, 2**62])
    assert x.to(GPU).sum().item() == int(np.sum(x.numpy()))
    wrap = torch.tensor([2**63 - 1, 2])  # wraps as on the CPU
    same_on_gpu(wrap.to(GPU).sum(), wrap.sum())
    pred = torch.tensor(np.random.default_rng(9).integers(0, 3, size=70000))
    y = torch.tensor(np.random.default_rng(10).integers(0, 3, size=70000))
    same_on_gpu((pred.to(GPU) == y.to(GPU)).sum(), (pred == y).sum())
    ties = torch.tensor([[5, 9, 9, -1], [2**40, 2**40, 3, 2**40]])
    same_on_gpu(ties.to(GPU).argmax(1), ties.argmax(1))
    same_on_gpu(ties.to(GPU).argmin(1), ties.argmin(1))
    labels = torch.tensor([3, 1, 4, 1, 5]).to(GPU)
    assert labels.sum().item() == 14 and (labels // 2).cpu().tolist() == [1, 0, 2, 0, 2]


# ---------------------------------------------------------------------------- ops that used numpy

def test_multinomial_on_gpu():
    torch.manual_seed(11)
    p = torch.tensor([[0.0, 1.0, 3.0, 0.0], [5.0, 0.0, 0.0, 5.0]])
    draws = torch.multinomial(p.to(GPU), 4000, replacement=True)
    assert draws.device.type == "gpu" and draws.dtype == torch.int64 and tuple(draws.shape) == (2, 4000)
    d = np_of(draws)
    assert set(np.unique(d[0])) <= {1, 2} and set(np.unique(d[1])) <= {0, 3}
    assert abs((d[0] == 2).mean() - 0.75) < 0.04 and abs((d[1] == 0).mean() - 0.5) < 0.04
    no_rep = torch.multinomial(p.to(GPU), 2)
    rows = np_of(no_rep)
    assert sorted(rows[0]) == [1, 2] and sorted(rows[1]) == [0, 3]
    one = torch.multinomial(torch.tensor([0.2, 0.3, 0.5]).to(GPU), 3)
    assert sorted(one.cpu().tolist()) == [0, 1, 2]
    # first draws follow p: category 2 first about half the time
    firsts = np.array([torch.multinomial(torch.tensor([0.2, 0.3, 0.5]).to(GPU), 1).item() for _ in range(200)])
    assert abs((firsts == 2).mean() - 0.5) < 0.1
    with pytest.raises(RuntimeError, match="without replacement"):
        torch.multinomial(p.to(GPU), 5)
    with pytest.raises(RuntimeError, match="not enough"):
        torch.multinomial(p.to(GPU), 3)
    with pytest.raises(RuntimeError, match="element < 0"):
        torch.multinomial(torch.tensor([-1.0, 2.0]).to(GPU), 1)
    cpu = torch.multinomial(p, 100, replacement=True)
    assert cpu.device.type == "cpu" and set(np.unique(cpu.numpy()[1])) <= {0, 3}


def test_embedding_max_norm_on_gpu():
    torch.manual_seed(12)
    emb = nn.Embedding(6, 3, max_norm=1.0)
    ref = nn.Embedding(6, 3, max_norm=1.0)
    with torch.no_grad():
        emb.weight.mul_(3.0)
        ref.weight.copy_(emb.weight)
    emb = emb.to(GPU)
    idx = torch.tensor([[0, 2, 2], [5, 0, 1]])
    out_g, out_c = emb(idx.to(GPU)), ref(idx)
    close_on_gpu(out_g, out_c, atol=1e-6)
    close_on_gpu(emb.weight, ref.weight, atol=1e-6)
    assert float(out_g.norm(dim=-1).max().item()) <= 1.0 + 1e-5


def test_pickle_repeat_interleave_and_pad_on_gpu():
    x = torch.randn(3, 4).to(GPU)
    y = pickle.loads(pickle.dumps(x))
    assert y.device.type == "gpu"
    same_on_gpu(y, x)
    p = pickle.loads(pickle.dumps(nn.Parameter(x)))
    assert p.device.type == "gpu" and p.requires_grad
    c = x.cpu()
    same_on_gpu(torch.repeat_interleave(x, torch.tensor([1, 0, 2]), 0), torch.repeat_interleave(c, torch.tensor([1, 0, 2]), 0))
    same_on_gpu(torch.repeat_interleave(x, 2, 1), torch.repeat_interleave(c, 2, 1))
    import ferrograd.nn.functional as F
    from ferrograd.nn.modules._utils import pad_nd
    for mode in ("reflect", "replicate", "circular"):
        same_on_gpu(F.pad(x.unsqueeze(0), (2, 1), mode=mode), F.pad(c.unsqueeze(0), (2, 1), mode=mode))
        same_on_gpu(pad_nd(x.unsqueeze(0), (2, 1), mode=mode), pad_nd(c.unsqueeze(0), (2, 1), mode=mode))


def test_gradcheck_on_gpu_names_the_device():
    x = torch.randn(3).to(GPU).requires_grad_(True)
    with pytest.raises(NotImplementedError, match="gpu:0"):
        torch.autograd.gradcheck(lambda t: t * 2, (x,))
    with pytest.raises(NotImplementedError, match="gpu:0"):
        torch.autograd.gradgradcheck(lambda t: t * t, (x,))


def test_numpy_is_not_reached_on_gpu():
    """No op of the sort family or of the former numpy users reaches the TypeError of .numpy()."""
    x = torch.randn(4, 5).to(GPU)
    for f in (lambda: torch.sort(x), lambda: torch.argsort(x), lambda: torch.topk(x, 2), lambda: torch.msort(x),
              lambda: torch.median(x, 1), lambda: torch.median(x), lambda: torch.kthvalue(x, 2),
              lambda: torch.multinomial(x.abs(), 2)):
        out = f()
        first = out[0] if isinstance(out, tuple) else out
        assert first.device.type == "gpu"
