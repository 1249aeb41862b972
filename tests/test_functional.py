"""nn.functional against numpy references, with float64 gradchecks."""
import math

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
from ferrograd.autograd import gradgradcheck
from helpers import assert_close, check_grad, data, float_dtype, rand, t64

erf = np.vectorize(math.erf, otypes=[np.float64])


def test_activations():
    a = rand(3, 4) * 2
    t = torch.tensor(a)
    sig = 1 / (1 + np.exp(-a))
    cases = [
        (F.relu, np.maximum(a, 0)),
        (lambda x: F.leaky_relu(x, 0.2), np.where(a > 0, a, 0.2 * a)),
        (lambda x: F.elu(x, 1.5), np.where(a > 0, a, 1.5 * np.expm1(a))),
        (F.gelu, 0.5 * a * (1 + erf(a / np.sqrt(2)))),
        (lambda x: F.gelu(x, approximate="tanh"), 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
        (F.silu, a * sig),
        (F.softplus, np.log1p(np.exp(a))),
        (lambda x: F.softplus(x, beta=2, threshold=1), np.where(2 * a > 1, a, np.log1p(np.exp(2 * a)) / 2)),
        (F.sigmoid, sig),
        (F.tanh, np.tanh(a)),
    ]
    for f, ref in cases:
        assert_close(f(t), ref, rtol=1e-10, atol=1e-10)
        check_grad(f, a + 0.05)
    assert F.softplus(torch.tensor([1000.0])).item() == 1000.0


def test_linear_and_bilinear():
    x, w, b = rand(4, 3), rand(5, 3), rand(5)
    assert_close(F.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)), x @ w.T + b)
    check_grad(F.linear, x, w, b)


def _conv2d_ref(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                           j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
                out[:, oc, i, j] = (patch * w[oc]).sum((1, 2, 3))
    return out + (b.reshape(1, -1, 1, 1) if b is not None else 0)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (1, 1, 1, 2)])
def test_conv2d(stride, padding, dilation, groups):
    x = rand(2, 4, 7, 6)
    w = rand(6, 4 // groups, 3, 3, rng=np.random.default_rng(1))
    b = rand(6, rng=np.random.default_rng(2))
    out = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, padding, dilation, groups)
    assert_close(out, _conv2d_ref(x, w, b, stride, padding, dilation, groups), rtol=1e-10)
    xs, ws, bs = rand(1, 2 * groups, 5, 4), rand(2, 2, 2, 3), rand(2)
    check_grad(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, padding, dilation, groups), xs, ws[:, :2 * groups // groups], bs)


@pytest.mark.parametrize("stride,padding,dilation,groups,kernel", [(1, 1, 1, 1, 3), (2, 0, 1, 2, 3), (1, 0, 1, 1, 1), (1, 2, 2, 1, 3)])
def test_conv2d_large_batches(stride, padding, dilation, groups, kernel):
    # Big enough for the CPU kernel to split the batch over threads; its backward (backward())
    # must match the one composed from differentiable ops (used under create_graph).
    xa, wa, ba = rand(5, 8, 17, 15), rand(12, 8 // groups, kernel, kernel, rng=np.random.default_rng(1)), rand(12, rng=np.random.default_rng(2))
    x, w, b = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    out = F.conv2d(x, w, b, stride, padding, dilation, groups)
    assert_close(out, _conv2d_ref(xa, wa, ba, stride, padding, dilation, groups), rtol=1e-5, atol=1e-4)
    g = torch.tensor(rand(*out.shape, rng=np.random.default_rng(3)))
    fused = torch.autograd.grad(out, (x, w, b), g, retain_graph=True)
    composed = torch.autograd.grad(out, (x, w, b), g, create_graph=True)
    for f, c in zip(fused, composed):
        assert_close(f, c.detach().cpu().numpy(), rtol=1e-5, atol=1e-4)
    # One gradient alone (a frozen weight; an input that needs none) takes its own kernel.
    (gx,) = torch.autograd.grad(F.conv2d(x, w.detach(), b, stride, padding, dilation, groups), (x,), g)
    (gw,) = torch.autograd.grad(F.conv2d(x.detach(), w, b, stride, padding, dilation, groups), (w,), g)
    assert_close(gx, fused[0].cpu().numpy(), rtol=1e-5, atol=1e-4)
    assert_close(gw, fused[1].cpu().numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.cpu_only("gradgradcheck needs float64")
@pytest.mark.parametrize("stride,padding,dilation,groups,kernel", [(1, 1, 1, 1, 3), (2, 0, 1, 2, 3), (1, 0, 1, 1, 1)])
def test_conv2d_double_backward(stride, padding, dilation, groups, kernel):
    small = [rand(2, 2 * groups, 5, 4), rand(2, 2, kernel, kernel), rand(2)]
    assert gradgradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, padding, dilation, groups),
                         [t64(a, requires_grad=True) for a in small], eps=1e-6, atol=1e-5, rtol=1e-4)


def test_conv2d_errors_and_empty_batch():
    with pytest.raises(RuntimeError, match=r"Input type \(torch.float32\), weight type \(torch.float64\)"):
        F.conv2d(torch.ones(1, 2, 4, 4), torch.ones(3, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="out_channels"):
        F.conv2d(torch.ones(1, 4, 4, 4), torch.ones(3, 2, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match="bias of size"):
        F.conv2d(torch.ones(1, 2, 4, 4), torch.ones(3, 2, 3, 3), torch.ones(4))
    with pytest.raises(RuntimeError, match="too small"):
        F.conv2d(torch.ones(1, 2, 2, 2), torch.ones(3, 2, 3, 3))
    x = torch.ones(0, 2, 5, 5, requires_grad=True)
    w = torch.ones(3, 2, 3, 3, requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    assert out.shape == (0, 3, 5, 5)
    out.sum().backward()
    assert_close(w.grad, np.zeros((3, 2, 3, 3)))
    assert x.grad.shape == (0, 2, 5, 5)


def test_conv2d_same_padding_and_conv1d():
    x, w = rand(1, 2, 5, 5), rand(3, 2, 3, 3)
    assert F.conv2d(torch.tensor(x), torch.tensor(w), padding="same").shape == (1, 3, 5, 5)
    x1, w1 = rand(2, 3, 9), rand(4, 3, 3)
    out = F.conv1d(torch.tensor(x1), torch.tensor(w1), stride=2, padding=1)
    ref = _conv2d_ref(x1[:, :, None, :], w1[:, :, None, :], None, 1, 0, 1, 1)
    assert out.shape == (2, 4, 5)
    xp = np.pad(x1, ((0, 0), (0, 0), (1, 1)))
    ref = np.stack([(xp[:, None, :, 2 * j:2 * j + 3] * w1[None]).sum((2, 3)) for j in range(5)], -1)
    assert_close(out, ref)
    with pytest.raises(RuntimeError, match="channels"):
        F.conv2d(torch.ones(1, 3, 4, 4), torch.ones(2, 2, 3, 3))


def test_unfold_fold_roundtrip():
    x = rand(1, 2, 5, 5)
    cols = F.unfold(torch.tensor(x), 3, padding=1)
    assert cols.shape == (1, 18, 25)
    back = F.fold(cols, (5, 5), 3, padding=1)
    counts = F.fold(F.unfold(torch.ones(1, 2, 5, 5, dtype=float_dtype()), 3, padding=1), (5, 5), 3, padding=1)
    assert_close(back / counts, x)
    check_grad(lambda t: F.unfold(t, 2, stride=2), x)
    check_grad(lambda t: F.fold(t, (4, 4), 2, stride=2), rand(1, 8, 4))


def _pool_ref(x, k, s, p, op, pad_value):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = op(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return out


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_pools(k, s, p):
    x = rand(2, 3, 6, 7)
    assert_close(F.max_pool2d(torch.tensor(x), k, s, p), _pool_ref(x, k, s, p, np.max, -np.inf))
    assert_close(F.avg_pool2d(torch.tensor(x), k, s, p), _pool_ref(x, k, s, p, np.mean, 0.0))
    check_grad(lambda t: F.max_pool2d(t, k, s, p), x[:1, :1])
    check_grad(lambda t: F.avg_pool2d(t, k, s, p), x[:1, :1])
    if p:
        ones = np.pad(np.ones((6, 7)), p)
        cnt = _pool_ref(ones[None, None, p:-p, p:-p], k, s, p, np.sum, 0.0)
        ref = _pool_ref(x, k, s, p, np.sum, 0.0) / cnt
        assert_close(F.avg_pool2d(torch.tensor(x), k, s, p, count_include_pad=False), ref)


def test_max_pool_ceil_mode_and_adaptive():
    x = rand(1, 1, 5, 5)
    out = F.max_pool2d(torch.tensor(x), 2, 2, ceil_mode=True)
    assert out.shape == (1, 1, 3, 3)
    assert_close(out[0, 0, 2, 2], x[0, 0, 4, 4])
    y = rand(2, 3, 8, 6)
    assert_close(F.adaptive_avg_pool2d(torch.tensor(y), (2, 3)), y.reshape(2, 3, 2, 4, 3, 2).mean((3, 5)))
    assert F.adaptive_avg_pool2d(torch.tensor(y), 1).shape == (2, 3, 1, 1)
    assert F.adaptive_avg_pool2d(torch.tensor(rand(1, 1, 5, 5)), 3).shape == (1, 1, 3, 3)


def test_dropout():
    torch.manual_seed(0)
    x = torch.ones(10000)
    y = F.dropout(x, 0.3)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.7) < 0.03 and abs(y[y != 0][0].item() - 1 / 0.7) < 1e-6
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)


def test_one_hot_and_embedding():
    idx = torch.tensor([0, 2, 1])
    assert F.one_hot(idx).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(idx, 4).shape == (3, 4)
    w = rand(5, 3)
    ids = np.array([[1, 4], [0, 1]])
    assert_close(F.embedding(torch.tensor(ids), torch.tensor(w)), w[ids])
    check_grad(lambda wt: F.embedding(torch.tensor(ids), wt), w)
    wt = t64(w, requires_grad=True)
    F.embedding(torch.tensor(ids), wt, padding_idx=1).sum().backward()
    assert_close(wt.grad[1], np.zeros(3))
    assert_close(wt.grad[0], np.ones(3))


def test_layer_norm_batch_norm():
    x = rand(4, 3, 5)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    w, b = rand(5), rand(5)
    assert_close(F.layer_norm(torch.tensor(x), (5,), torch.tensor(w), torch.tensor(b)), (x - mu) / np.sqrt(var + 1e-5) * w + b)
    check_grad(lambda t, w_, b_: F.layer_norm(t, (5,), w_, b_), x, w, b)
    rm, rv = torch.zeros(3, dtype=float_dtype()), torch.ones(3, dtype=float_dtype())
    out = F.batch_norm(torch.tensor(x), rm, rv, training=True, momentum=0.1)
    m, v = x.mean((0, 2)), x.var((0, 2))
    assert_close(out, (x - m[None, :, None]) / np.sqrt(v[None, :, None] + 1e-5))
    n = x.shape[0] * x.shape[2]
    assert_close(rm, 0.1 * m)
    assert_close(rv, 0.9 + 0.1 * v * n / (n - 1))
    evald = F.batch_norm(torch.tensor(x), rm, rv, training=False)
    assert_close(evald, (x - rm.cpu().numpy()[None, :, None]) / np.sqrt(rv.cpu().numpy()[None, :, None] + 1e-5))
    check_grad(lambda t: F.batch_norm(t, None, None, training=True), x)


def _log_softmax(a, axis=1):
    m = a.max(axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll(reduction):
    x = rand(5, 4) * 3
    y = np.array([0, 3, 1, 1, 2])
    lp = _log_softmax(x)
    per = -lp[np.arange(5), y]
    red = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    assert_close(F.cross_entropy(torch.tensor(x), torch.tensor(y), reduction=reduction), red)
    assert_close(F.nll_loss(torch.tensor(lp), torch.tensor(y), reduction=reduction), red)
    check_grad(lambda t: F.cross_entropy(t, torch.tensor(y), reduction=reduction), x)


def test_cross_entropy_options():
    x = rand(6, 3)
    y = np.array([0, 2, 1, -100, 2, 0])
    w = data([0.2, 1.0, 3.0])
    lp = _log_softmax(x)
    valid = y != -100
    yv = np.where(valid, y, 0)
    per = -lp[np.arange(6), yv] * w[yv] * valid
    assert_close(F.cross_entropy(torch.tensor(x), torch.tensor(y), weight=torch.tensor(w)), per.sum() / (w[yv] * valid).sum())
    eps = 0.1
    nll = -lp[np.arange(6), yv] * valid
    smooth = -lp.sum(1) * valid
    ref = (1 - eps) * nll.sum() / valid.sum() + eps / 3 * smooth.sum() / valid.sum()
    assert_close(F.cross_entropy(torch.tensor(x), torch.tensor(y), label_smoothing=eps), ref)
    check_grad(lambda t: F.cross_entropy(t, torch.tensor(y), label_smoothing=eps, weight=torch.tensor(w)), x)
    xs = rand(2, 3, 4)
    ys = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    lps = _log_softmax(xs, 1)
    ref = -np.take_along_axis(lps, ys[:, None], 1).mean()
    assert_close(F.cross_entropy(torch.tensor(xs), torch.tensor(ys)), ref)
    probs = np.abs(rand(4, 3))
    probs /= probs.sum(1, keepdims=True)
    assert_close(F.cross_entropy(torch.tensor(rand(4, 3)), torch.tensor(probs)), -(probs * _log_softmax(rand(4, 3))).sum(1).mean())
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(torch.ones(2, 3), torch.tensor([0, 5]))
    big = torch.tensor([[1000.0, -1000.0]])
    assert math.isfinite(F.cross_entropy(big, torch.tensor([1])).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_weights_ignore_index_and_shapes(reduction):
    x = rand(7, 5, low=-4, high=4)
    y = np.array([4, 0, 2, 2, -1, 1, 3])
    w = data([0.5, 2.0, 1.0, 0.25, 3.0])
    lp = _log_softmax(x)
    valid = y != -1
    yv = np.where(valid, y, 0)
    per = -lp[np.arange(7), yv] * w[yv] * valid
    red = {"mean": per.sum() / (w[yv] * valid).sum(), "sum": per.sum(), "none": per}[reduction]
    ce = lambda t, wt: F.cross_entropy(t, torch.tensor(y), weight=wt, ignore_index=-1, reduction=reduction)  # noqa: E731
    assert_close(ce(torch.tensor(x), torch.tensor(w)), red)
    check_grad(lambda t: ce(t, torch.tensor(w, dtype=t.dtype)), x)
    # Unbatched [C] input with a 0-d target, and [N, C, d] input with an unreduced [N, d] loss.
    assert_close(F.cross_entropy(torch.tensor(x[0]), torch.tensor(y[0]), reduction=reduction),
                 -lp[0, y[0]] if reduction != "none" else np.array(-lp[0, y[0]]))
    xs, ys = rand(2, 3, 4), np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    out = F.cross_entropy(torch.tensor(xs), torch.tensor(ys), reduction=reduction)
    ref = -np.take_along_axis(_log_softmax(xs, 1), ys[:, None], 1)[:, 0]
    assert_close(out, {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction])


def test_cross_entropy_all_ignored():
    x = torch.tensor(rand(3, 4))
    assert math.isnan(F.cross_entropy(x, torch.tensor([-100, -100, -100])).item())  # 0 / 0, as PyTorch
    assert F.cross_entropy(x, torch.tensor([-100, -100, -100]), reduction="sum").item() == 0.0


@pytest.mark.cpu_only("gradgradcheck needs float64")
def test_cross_entropy_double_backward():
    y = torch.tensor([1, 0, 3])
    assert gradgradcheck(lambda t: F.cross_entropy(t, y), [t64(rand(3, 4), requires_grad=True)])


def test_regression_and_bce_losses():
    x, y = rand(4, 3), rand(4, 3, rng=np.random.default_rng(7))
    assert_close(F.mse_loss(torch.tensor(x), torch.tensor(y)), ((x - y) ** 2).mean())
    assert_close(F.l1_loss(torch.tensor(x), torch.tensor(y), reduction="sum"), np.abs(x - y).sum())
    check_grad(lambda a: F.mse_loss(a, torch.tensor(y)), x)
    p = 1 / (1 + np.exp(-x))
    t = (y > 0).astype(x.dtype)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert_close(F.binary_cross_entropy(torch.tensor(p), torch.tensor(t)), bce.mean())
    assert_close(F.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t)), bce.mean())
    pw = data([1.0, 2.0, 0.5])
    ref = -(pw * t * np.log(p) + (1 - t) * np.log(1 - p))
    assert_close(F.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), pos_weight=torch.tensor(pw)), ref.mean())
    check_grad(lambda a: F.binary_cross_entropy(a, torch.tensor(t)), p)
    check_grad(lambda a: F.binary_cross_entropy_with_logits(a, torch.tensor(t)), x)
    assert math.isfinite(F.binary_cross_entropy_with_logits(torch.tensor([500.0]), torch.tensor([0.0])).item())
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0]))


def test_max_pool_propagates_nan_and_routes_gradient_to_one_max():
    x = torch.tensor([[[[1.0, float("nan")], [3.0, 4.0]]]])
    assert math.isnan(F.max_pool2d(x, 2).item())
    t = t64([[[[2.0, 2.0], [1.0, 0.0]]]], requires_grad=True)
    F.max_pool2d(t, 2).sum().backward()
    assert_close(t.grad, [[[[1.0, 0.0], [0.0, 0.0]]]])  # ties: first maximum only, as PyTorch
    out, idx = F.max_pool2d(torch.tensor(rand(1, 2, 4, 4)), 2, return_indices=True)
    assert idx.dtype == torch.int64 and idx.shape == (1, 2, 2, 2)
