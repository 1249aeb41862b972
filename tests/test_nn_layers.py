"""Every layer's forward against a NumPy reference (float64), and backward via gradcheck."""
import math
import re

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn as nn
from ferrograd.autograd import gradcheck
from helpers import float_dtype, module_grads_match_cpu, on_gpu


def rnd(*shape, requires_grad=False):
    return torch.randn(*shape, dtype=float_dtype(), requires_grad=requires_grad)


def npy(t):
    return t.detach().cpu().numpy()


def close(got, want, rtol=1e-10, atol=1e-12):
    if on_gpu():
        rtol, atol = max(rtol, 1e-4), max(atol, 1e-4)
    np.testing.assert_allclose(npy(got) if isinstance(got, torch.Tensor) else got, want, rtol=rtol, atol=atol)


def check_grad(module, *inputs, call=None, atol=1e-6, rtol=1e-4):
    """gradcheck of call(module, *inputs) (default module(*inputs)) with respect to the inputs
    that require grad and all parameters; on the GPU, against a float64 CPU copy."""
    call = call or (lambda m, *xs: m(*xs))
    if on_gpu():
        module_grads_match_cpu(module, *inputs, call=call)
        return
    params = [p for p in module.parameters() if p.requires_grad]
    n_in = len(inputs)

    def fn(*args):
        return call(module, *args[:n_in])

    assert gradcheck(fn, tuple(inputs) + tuple(params), eps=1e-6, atol=atol, rtol=rtol)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


# ---------------------------------------------------------------------------- numpy references

def np_conv2d(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                           j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def np_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation=(1, 1)):
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    ow = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros((n, o, oh + 2 * padding[0] + kh * dilation[0], ow + 2 * padding[1] + kw * dilation[1]))
    for i in range(h):
        for j in range(wd):
            for p in range(kh):
                for q in range(kw):
                    full[:, :, i * stride[0] + p * dilation[0], j * stride[1] + q * dilation[1]] += \
                        x[:, :, i, j] @ w[:, :, p, q]
    out = full[:, :, padding[0]:padding[0] + oh, padding[1]:padding[1] + ow]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


def np_pool2d(x, k, s, p, op, count_include_pad=True):
    n, c, h, w = x.shape
    fill = -np.inf if op == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    oh = (h + 2 * p[0] - k[0]) // s[0] + 1
    ow = (w + 2 * p[1] - k[1]) // s[1] + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            if op == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif count_include_pad:
                out[:, :, i, j] = win.mean(axis=(2, 3))
            else:
                r0, r1 = max(i * s[0] - p[0], 0), min(i * s[0] - p[0] + k[0], h)
                c0, c1 = max(j * s[1] - p[1], 0), min(j * s[1] - p[1] + k[1], w)
                out[:, :, i, j] = win.sum(axis=(2, 3)) / ((r1 - r0) * (c1 - c0))
    return out


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_layer_norm(x, w, b, dims, eps=1e-5):
    axes = tuple(range(-dims, 0))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    out = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        out = out * w
    if b is not None:
        out = out + b
    return out


# ---------------------------------------------------------------------------- linear

def test_linear_forward_init_and_grad():
    lin = nn.Linear(5, 3)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,)
    assert lin.weight.dtype is torch.float32
    bound = 1 / math.sqrt(5)  # kaiming_uniform(a=sqrt(5)) gives bound sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(fan_in)
    assert float(lin.weight.abs().max()) <= bound and float(lin.bias.abs().max()) <= bound
    lin = nn.Linear(5, 3, dtype=float_dtype())
    x = rnd(2, 4, 5)
    close(lin(x), npy(x) @ npy(lin.weight).T + npy(lin.bias))
    nb = nn.Linear(5, 3, bias=False, dtype=float_dtype())
    assert nb.bias is None and len(list(nb.parameters())) == 1
    close(nb(x), npy(x) @ npy(nb.weight).T)
    check_grad(nn.Linear(3, 2, dtype=float_dtype()), rnd(2, 3, requires_grad=True))


def test_bilinear_and_identity():
    bl = nn.Bilinear(3, 4, 2).to(float_dtype())
    a, b = rnd(5, 3), rnd(5, 4)
    want = np.einsum("bi,oij,bj->bo", npy(a), npy(bl.weight), npy(b)) + npy(bl.bias)
    close(bl(a, b), want)
    assert bl(rnd(2, 5, 3), rnd(2, 5, 4)).shape == (2, 5, 2)
    check_grad(nn.Bilinear(2, 2, 2).to(float_dtype()), rnd(2, 2, requires_grad=True), rnd(2, 2, requires_grad=True))
    x = rnd(3)
    assert nn.Identity(54, unused="x")(x) is x


# ---------------------------------------------------------------------------- convolution

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=(1, 2), dilation=2),
    dict(groups=2, bias=False),
    dict(padding="same", dilation=(1, 2)),
    dict(padding="valid", stride=(2, 1)),
])
def test_conv2d_forward(kwargs):
    conv = nn.Conv2d(4, 6, 3, dtype=float_dtype(), **kwargs)
    x = rnd(2, 4, 7, 6)
    pad = kwargs.get("padding", 0)
    dil = conv.dilation
    if pad == "same":
        ref_in = np.pad(npy(x), ((0, 0), (0, 0), (dil[0], dil[0]), (dil[1], dil[1])))
        pad = (0, 0)
    elif pad == "valid":
        ref_in, pad = npy(x), (0, 0)
    else:
        ref_in, pad = npy(x), conv.padding
    want = np_conv2d(ref_in, npy(conv.weight), None if conv.bias is None else npy(conv.bias), conv.stride, pad,
                     dil, conv.groups)
    close(conv(x), want)
    if kwargs.get("padding") == "same":
        assert conv(x).shape[-2:] == x.shape[-2:]
    close(conv(x[0]), want[0])  # unbatched input


def test_conv2d_init_and_errors():
    conv = nn.Conv2d(3, 8, (3, 5))
    assert conv.weight.shape == (8, 3, 3, 5) and conv.kernel_size == (3, 5)
    bound = 1 / math.sqrt(3 * 3 * 5)
    assert float(conv.weight.abs().max()) <= bound and float(conv.bias.abs().max()) <= bound
    assert nn.Conv2d(4, 4, 3, groups=2).weight.shape == (4, 2, 3, 3)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")


@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_conv2d_padding_modes(mode, np_mode):
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode, dtype=float_dtype())
    x = rnd(1, 2, 5, 4)
    ref_in = np.pad(npy(x), ((0, 0), (0, 0), (1, 1), (1, 1)), mode=np_mode)
    close(conv(x), np_conv2d(ref_in, npy(conv.weight), npy(conv.bias)))


def test_conv1d_forward():
    conv = nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, dtype=float_dtype())
    assert conv.weight.shape == (6, 2, 3)
    x = rnd(2, 4, 9)
    want = np_conv2d(npy(x)[:, :, None], npy(conv.weight)[:, :, None], npy(conv.bias), (1, 2), (0, 1), (1, 1), 2)
    close(conv(x), want[:, :, 0])
    same = nn.Conv1d(2, 2, 4, padding="same", dtype=float_dtype())
    assert same(rnd(1, 2, 7)).shape == (1, 2, 7)
    refl = nn.Conv1d(2, 2, 3, padding=2, padding_mode="reflect", dtype=float_dtype())
    x = rnd(1, 2, 6)
    ref_in = np.pad(npy(x), ((0, 0), (0, 0), (2, 2)), mode="reflect")
    close(refl(x), np_conv2d(ref_in[:, :, None], npy(refl.weight)[:, :, None], npy(refl.bias))[:, :, 0])


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, output_padding=1), dict(stride=2, dilation=2)])
def test_conv_transpose2d_forward(kwargs):
    conv = nn.ConvTranspose2d(3, 2, 3, dtype=float_dtype(), **kwargs)
    assert conv.weight.shape == (3, 2, 3, 3)
    x = rnd(2, 3, 4, 3)
    want = np_conv_transpose2d(npy(x), npy(conv.weight), npy(conv.bias), conv.stride, conv.padding,
                               conv.output_padding, conv.dilation)
    close(conv(x), want)


def test_conv_transpose2d_groups_output_size_and_1d():
    conv = nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2, dtype=float_dtype())
    assert conv.weight.shape == (4, 3, 2, 2)
    x = rnd(1, 4, 3, 3)
    w, b = npy(conv.weight), npy(conv.bias)
    want = np.concatenate([np_conv_transpose2d(npy(x)[:, :2], w[:2], None, (2, 2), (0, 0), (0, 0)),
                           np_conv_transpose2d(npy(x)[:, 2:], w[2:], None, (2, 2), (0, 0), (0, 0))], 1)
    close(conv(x), want + b.reshape(1, -1, 1, 1))
    up = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, dtype=float_dtype())
    assert up(rnd(1, 2, 4, 4), output_size=[8, 8]).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="requested an output size of"):
        up(rnd(1, 2, 4, 4), output_size=[12, 12])
    c1 = nn.ConvTranspose1d(2, 3, 3, stride=2, dtype=float_dtype())
    x1 = rnd(2, 2, 4)
    want = np_conv_transpose2d(npy(x1)[:, :, None], npy(c1.weight)[:, :, None], npy(c1.bias), (1, 2), (0, 0),
                               (0, 0))
    close(c1(x1), want[:, :, 0])


def test_conv_grads():
    check_grad(nn.Conv2d(2, 2, 2, stride=2, padding=1, groups=2, dtype=float_dtype()),
               rnd(1, 2, 3, 3, requires_grad=True))
    check_grad(nn.Conv2d(1, 2, (2, 1), dilation=(2, 1), dtype=float_dtype()), rnd(1, 1, 4, 2, requires_grad=True))
    check_grad(nn.Conv1d(1, 1, 2, padding=1, padding_mode="circular", dtype=float_dtype()),
               rnd(1, 1, 4, requires_grad=True))
    check_grad(nn.ConvTranspose2d(1, 1, 2, stride=2, dtype=float_dtype()), rnd(1, 1, 2, 2, requires_grad=True))


# ---------------------------------------------------------------------------- pooling

def test_pool2d_forward():
    x = rnd(2, 3, 7, 6)
    close(nn.MaxPool2d(2)(x), np_pool2d(npy(x), (2, 2), (2, 2), (0, 0), "max"))
    close(nn.MaxPool2d(3, stride=2, padding=1)(x), np_pool2d(npy(x), (3, 3), (2, 2), (1, 1), "max"))
    close(nn.AvgPool2d((2, 3))(x), np_pool2d(npy(x), (2, 3), (2, 3), (0, 0), "avg"))
    close(nn.AvgPool2d(3, stride=1, padding=1)(x), np_pool2d(npy(x), (3, 3), (1, 1), (1, 1), "avg"))
    close(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)(x),
          np_pool2d(npy(x), (3, 3), (2, 2), (1, 1), "avg", count_include_pad=False))
    assert nn.MaxPool2d(2, ceil_mode=True)(x).shape == (2, 3, 4, 3)


def test_pool1d_forward():
    x = rnd(2, 3, 9)
    close(nn.MaxPool1d(3, stride=2)(x), np_pool2d(npy(x)[:, :, None], (1, 3), (1, 2), (0, 0), "max")[:, :, 0])
    close(nn.AvgPool1d(2)(x), np_pool2d(npy(x)[:, :, None], (1, 2), (1, 2), (0, 0), "avg")[:, :, 0])
    close(nn.MaxPool1d(2)(x[0]), np_pool2d(npy(x)[:, :, None], (1, 2), (1, 2), (0, 0), "max")[0, :, 0])


def test_adaptive_pools():
    x = rnd(2, 3, 7, 5)

    def ref(out_hw, op):
        oh, ow = out_hw
        h, w = x.shape[-2:]
        res = np.zeros((2, 3, oh, ow))
        for i in range(oh):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            for j in range(ow):
                w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
                win = npy(x)[:, :, h0:h1, w0:w1]
                res[:, :, i, j] = win.mean(axis=(2, 3)) if op == "avg" else win.max(axis=(2, 3))
        return res

    close(nn.AdaptiveAvgPool2d((3, 2))(x), ref((3, 2), "avg"))
    close(nn.AdaptiveAvgPool2d(1)(x), ref((1, 1), "avg"))
    close(nn.AdaptiveMaxPool2d((2, 4))(x), ref((2, 4), "max"))
    close(nn.AdaptiveAvgPool2d((None, 2))(x), ref((7, 2), "avg"))
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"


def test_pool_grads():
    x = torch.tensor(np.random.default_rng(0).permutation(16).reshape(1, 1, 4, 4) * 0.1, dtype=float_dtype(),
                     requires_grad=True)
    check_grad(nn.MaxPool2d(2), x)  # distinct values: max is differentiable
    check_grad(nn.AvgPool2d(3, stride=1, padding=1), rnd(1, 1, 3, 3, requires_grad=True))
    check_grad(nn.AdaptiveAvgPool2d((2, 2)), rnd(1, 1, 3, 3, requires_grad=True))


# ---------------------------------------------------------------------------- shape layers & dropout

def test_flatten_unflatten():
    x = rnd(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    y = nn.Unflatten(1, (3, 20))(rnd(2, 60))
    assert y.shape == (2, 3, 20)
    close(nn.Unflatten(1, (3, 4))(x.flatten(1, 2)), npy(x))
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints"):
        nn.Unflatten(1, (2, 2.5))


def test_dropout():
    x = torch.ones(200, 50, dtype=float_dtype())
    d = nn.Dropout(0.3)
    out = npy(d(x))
    assert set(np.unique(out)) <= {0.0, out.dtype.type(1 / 0.7)}
    assert abs((out == 0).mean() - 0.3) < 0.03
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    d2 = nn.Dropout2d(0.5)
    out = npy(d2(torch.ones(8, 16, 3, 3)))
    per_channel = out.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))  # whole channels dropped
    assert float(nn.Dropout(0.0)(x).sum()) == x.numel()
    assert float(nn.Dropout2d(1.0)(torch.ones(2, 3, 2, 2)).abs().sum()) == 0.0
    assert float(nn.Dropout(1.0)(torch.ones(4)).abs().sum()) == 0.0


# ---------------------------------------------------------------------------- normalisation

def test_batchnorm1d_train_eval_running_stats():
    bn = nn.BatchNorm1d(3).to(float_dtype())
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    x = rnd(8, 3) * 2 + 1
    out = bn(x)
    xs = npy(x)
    close(out, (xs - xs.mean(0)) / np.sqrt(xs.var(0) + 1e-5))
    close(bn.running_mean, 0.1 * xs.mean(0))
    close(bn.running_var, 0.9 + 0.1 * xs.var(0, ddof=1))
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    y = rnd(4, 3)
    close(bn(y), (npy(y) - npy(bn.running_mean)) / np.sqrt(npy(bn.running_var) + 1e-5))
    assert int(bn.num_batches_tracked) == 1
    # 3-D input (N, C, L): statistics over N and L.
    bn3 = nn.BatchNorm1d(2, affine=False).to(float_dtype())
    z = rnd(4, 2, 5)
    zs = npy(z)
    close(bn3(z), (zs - zs.mean((0, 2), keepdims=True)) / np.sqrt(zs.var((0, 2), keepdims=True) + 1e-5))
    assert bn3.weight is None
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        bn3(rnd(2, 2, 2, 2))


def test_batchnorm2d_momentum_none_and_no_tracking():
    bn = nn.BatchNorm2d(2, momentum=None).to(float_dtype())
    xs = []
    for _ in range(3):
        x = rnd(4, 2, 3, 3) * 3 + 2
        xs.append(npy(x))
        bn(x)
    means = np.mean([a.mean((0, 2, 3)) for a in xs], 0)  # cumulative average of the batch means
    close(bn.running_mean, means, rtol=1e-9)
    unbiased = np.mean([a.var((0, 2, 3), ddof=1) for a in xs], 0)
    close(bn.running_var, unbiased, rtol=1e-9)
    assert int(bn.num_batches_tracked) == 3
    free = nn.BatchNorm2d(2, track_running_stats=False).to(float_dtype())
    assert free.running_mean is None and list(free.state_dict()) == ["weight", "bias"]
    free.eval()
    x = rnd(3, 2, 2, 2)
    xs = npy(x)
    close(free(x), (xs - xs.mean((0, 2, 3), keepdims=True)) / np.sqrt(xs.var((0, 2, 3), keepdims=True) + 1e-5))
    with pytest.raises(ValueError, match="expected 4D input \\(got 3D input\\)"):
        bn(rnd(2, 2, 2))


def test_batchnorm_grad_train():
    bn = nn.BatchNorm2d(2).to(float_dtype())
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.5], dtype=float_dtype()))
        bn.bias.copy_(torch.tensor([0.1, 0.2], dtype=float_dtype()))
    check_grad(bn, rnd(3, 2, 2, 1, requires_grad=True))
    check_grad(nn.BatchNorm1d(2).to(float_dtype()), rnd(4, 2, requires_grad=True))


def test_layer_norm_and_group_norm():
    ln = nn.LayerNorm((3, 4)).to(float_dtype())
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = rnd(2, 3, 4)
    close(ln(x), np_layer_norm(npy(x), npy(ln.weight), npy(ln.bias), 2), rtol=1e-9)
    nb = nn.LayerNorm(4, eps=1e-3, bias=False).to(float_dtype())
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]
    close(nb(x), np_layer_norm(npy(x), npy(nb.weight), None, 1, 1e-3), rtol=1e-9)
    plain = nn.LayerNorm(4, elementwise_affine=False)
    assert list(plain.parameters()) == []
    gn = nn.GroupNorm(2, 4).to(float_dtype())
    with torch.no_grad():
        gn.weight.normal_()
    y = rnd(3, 4, 5)
    ys = npy(y).reshape(3, 2, 10)
    norm = ((ys - ys.mean(-1, keepdims=True)) / np.sqrt(ys.var(-1, keepdims=True) + 1e-5)).reshape(3, 4, 5)
    close(gn(y), norm * npy(gn.weight)[None, :, None] + npy(gn.bias)[None, :, None], rtol=1e-9)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    check_grad(nn.LayerNorm(3).to(float_dtype()), rnd(2, 3, requires_grad=True))
    check_grad(nn.GroupNorm(2, 4).to(float_dtype()), rnd(1, 4, 2, requires_grad=True))


# ---------------------------------------------------------------------------- embedding

def test_embedding():
    emb = nn.Embedding(6, 3, padding_idx=2).to(float_dtype())
    np.testing.assert_array_equal(npy(emb.weight)[2], 0.0)
    idx = torch.tensor([[0, 2, 5], [2, 1, 1]])
    out = emb(idx)
    close(out, npy(emb.weight)[npy(idx)])
    out.sum().backward()
    g = npy(emb.weight.grad)
    np.testing.assert_array_equal(g[2], 0.0)  # padding row gets no gradient
    np.testing.assert_array_equal(g[1], 2.0)
    np.testing.assert_array_equal(g[3], 0.0)
    assert nn.Embedding(4, 2, padding_idx=-1).padding_idx == 3
    pre = torch.arange(6.0, dtype=float_dtype()).reshape(3, 2)
    frozen = nn.Embedding.from_pretrained(pre)
    assert not frozen.weight.requires_grad
    close(frozen(torch.tensor([2, 0])), [[4.0, 5.0], [0.0, 1.0]])
    assert nn.Embedding.from_pretrained(pre, freeze=False).weight.requires_grad
    capped = nn.Embedding(4, 2, max_norm=1.0).to(float_dtype())
    capped(torch.tensor([0, 1]))
    norms = np.linalg.norm(npy(capped.weight)[:2], axis=1)
    assert np.all(norms <= 1.0 + 1e-6)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)

    emb = nn.Embedding(4, 2).to(float_dtype())
    ids = torch.tensor([3, 0, 3])
    check_grad(emb, call=lambda m: torch.nn.functional.embedding(ids.to(m.weight.device), m.weight))


# ---------------------------------------------------------------------------- activations

ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.ReLU6(), lambda x: np.clip(x, 0, 6)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    (nn.SELU(), lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))),
    (nn.CELU(alpha=2.0), lambda x: np.where(x > 0, x, 2.0 * (np.exp(x / 2.0) - 1))),
    (nn.GELU(), lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    (nn.SiLU(), lambda x: x * sigmoid(x)),
    (nn.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (nn.Sigmoid(), sigmoid),
    (nn.Tanh(), np.tanh),
    (nn.Softplus(beta=2.0, threshold=5.0), lambda x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2)),
    (nn.Softsign(), lambda x: x / (1 + np.abs(x))),
    (nn.Hardtanh(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    (nn.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (nn.Hardsigmoid(), lambda x: np.clip(x + 3, 0, 6) / 6),
    (nn.Threshold(0.1, -2.0), lambda x: np.where(x > 0.1, x, -2.0)),
    (nn.LogSigmoid(), lambda x: -np.log1p(np.exp(-x))),
    (nn.Tanhshrink(), lambda x: x - np.tanh(x)),
    (nn.Softshrink(0.5), lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0))),
    (nn.Hardshrink(0.5), lambda x: np.where(np.abs(x) > 0.5, x, 0)),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.Softmin(dim=1), lambda x: np.exp(-x) / np.exp(-x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    (nn.GLU(), lambda x: x[..., :2] * sigmoid(x[..., 2:])),
]


@pytest.mark.parametrize("module,ref", ACTIVATIONS, ids=[type(m).__name__ for m, _ in ACTIVATIONS])
def test_activation_forward(module, ref):
    x = rnd(3, 4) * 3
    close(module(x), ref(npy(x)), rtol=1e-9, atol=1e-12)


def test_activation_grads_and_inplace():
    x = rnd(2, 3, requires_grad=True)
    for m in (nn.ELU(), nn.GELU(), nn.SiLU(), nn.Mish(), nn.Softplus(), nn.Softmax(dim=1), nn.LogSoftmax(1),
              nn.Tanh(), nn.SELU()):
        check_grad(m, x)
    y = rnd(5)
    ref = np.maximum(npy(y), 0)
    out = nn.ReLU(inplace=True)(y)
    close(y, ref)
    close(out, ref)
    prelu = nn.PReLU(3).to(float_dtype())
    z = rnd(2, 3, 4)
    close(prelu(z), np.where(npy(z) >= 0, npy(z), 0.25 * npy(z)))
    check_grad(nn.PReLU().to(float_dtype()), rnd(2, 2, requires_grad=True))


# ---------------------------------------------------------------------------- recurrent

def np_rnn(mod, x, h0, c0=None):
    """Reference for RNN/LSTM/GRU with time-major x [T, B, I] and PyTorch's gate layout."""
    mode = {"RNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}[type(mod).__name__]
    D = 2 if mod.bidirectional else 1
    p = {n: npy(v) for n, v in mod.named_parameters()}
    inp = x
    hs, cs = [], []
    for layer in range(mod.num_layers):
        outs = []
        for d in range(D):
            sfx = f"l{layer}" + ("_reverse" if d else "")
            wih, whh = p["weight_ih_" + sfx], p["weight_hh_" + sfx]
            bih = p.get("bias_ih_" + sfx, 0.0)
            bhh = p.get("bias_hh_" + sfx, 0.0)
            h = h0[layer * D + d]
            c = c0[layer * D + d] if c0 is not None else None
            seq = [None] * len(inp)
            for t in (range(len(inp) - 1, -1, -1) if d else range(len(inp))):
                gi = inp[t] @ wih.T + bih
                gh = h @ whh.T + bhh
                if mode == "RNN":
                    h = np.tanh(gi + gh) if mod.nonlinearity == "tanh" else np.maximum(gi + gh, 0)
                elif mode == "LSTM":
                    i, f, g, o = np.split(gi + gh, 4, -1)
                    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                    h = sigmoid(o) * np.tanh(c)
                    if "weight_hr_" + sfx in p:
                        h = h @ p["weight_hr_" + sfx].T
                else:
                    ir, iz, in_ = np.split(gi, 3, -1)
                    hr, hz, hn = np.split(gh, 3, -1)
                    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
                    n = np.tanh(in_ + r * hn)
                    h = (1 - z) * n + z * h
                seq[t] = h
            outs.append(np.stack(seq))
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, -1)
    return inp, np.stack(hs), (np.stack(cs) if c0 is not None else None)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_forward_matches_reference(cls):
    mod = cls(3, 4, num_layers=2, bidirectional=True).to(float_dtype())
    names = [n for n, _ in mod.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and mod.weight_ih_l1.shape[1] == 8
    gates = {nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3}[cls]
    assert mod.weight_hh_l0.shape == (gates * 4, 4)
    assert float(max(p.abs().max() for p in mod.parameters())) <= 0.5  # uniform(-1/sqrt(4), 1/sqrt(4))
    x = rnd(5, 2, 3)
    h0 = rnd(4, 2, 4)
    if cls is nn.LSTM:
        c0 = rnd(4, 2, 4)
        out, (h, c) = mod(x, (h0, c0))
        want_out, want_h, want_c = np_rnn(mod, npy(x), npy(h0), npy(c0))
        close(c, want_c, rtol=1e-9)
    else:
        out, h = mod(x, h0)
        want_out, want_h, _ = np_rnn(mod, npy(x), npy(h0))
    assert out.shape == (5, 2, 8)
    close(out, want_out, rtol=1e-9)
    close(h, want_h, rtol=1e-9)


def test_recurrent_batch_first_unbatched_defaults_and_errors():
    gru = nn.GRU(3, 4, batch_first=True).to(float_dtype())
    x = rnd(2, 5, 3)
    out, h = gru(x)
    want_out, want_h, _ = np_rnn(gru, npy(x).transpose(1, 0, 2), np.zeros((1, 2, 4)))
    close(out, want_out.transpose(1, 0, 2), rtol=1e-9)
    close(h, want_h, rtol=1e-9)
    out1, h1 = gru(x[0])  # unbatched (L, H_in)
    assert out1.shape == (5, 4) and h1.shape == (1, 4)
    close(out1, want_out[:, 0], rtol=1e-9)
    relu = nn.RNN(2, 3, nonlinearity="relu").to(float_dtype())
    y = rnd(4, 1, 2)
    close(relu(y)[0], np_rnn(relu, npy(y), np.zeros((1, 1, 3)))[0], rtol=1e-9)
    lstm = nn.LSTM(2, 3, bias=False).to(float_dtype())
    assert [n for n, _ in lstm.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    o, (hn, cn) = lstm(rnd(4, 2))
    assert o.shape == (4, 3) and hn.shape == (1, 3) and cn.shape == (1, 3)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 2"):
        gru(rnd(2, 5, 2))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"):
        gru(x, rnd(1, 3, 4))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        nn.RNN(2, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="GRU: Expected input to be 2D or 3D, got 4D tensor instead"):
        gru(rnd(1, 1, 1, 3))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(2, 2, dropout=0.5)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_recurrent_state_dims(cls):
    """One forward serves all three: PyTorch's errors for a state of the wrong rank, and an
    unbatched input with a given state gives the batched result's first column."""
    mod = cls(2, 3).to(float_dtype())
    pair = cls is nn.LSTM
    names, one, three = ("hx and cx", "(2-D, 2-D) tensors", "(3-D, 3-D) tensors") if pair else ("hx", "2-D tensor", "3-D tensor")
    state = (lambda h: (h, h)) if pair else (lambda h: h)
    with pytest.raises(RuntimeError, match=re.escape(f"For batched 3-D input, {names} should also be 3-D but got {one}")):
        mod(rnd(4, 1, 2), state(rnd(1, 3)))
    with pytest.raises(RuntimeError, match=re.escape(f"For unbatched 2-D input, {names} should also be 2-D but got {three}")):
        mod(rnd(4, 2), state(rnd(1, 1, 3)))
    x, h0 = rnd(4, 1, 2), rnd(1, 1, 3)
    out, final = mod(x, state(h0))
    out1, final1 = mod(x[:, 0], state(h0[:, 0]))
    close(out1, npy(out)[:, 0], rtol=1e-12)
    for batched, unbatched in zip(final if pair else [final], final1 if pair else [final1]):
        assert unbatched.shape == (1, 3)
        close(unbatched, npy(batched)[:, 0], rtol=1e-12)


def test_lstm_proj_size():
    lstm = nn.LSTM(3, 4, proj_size=2, bidirectional=True).to(float_dtype())
    assert lstm.weight_hr_l0.shape == (2, 4) and lstm.weight_hh_l0.shape == (16, 2)
    assert "weight_hr_l0_reverse" in dict(lstm.named_parameters())
    x, h0, c0 = rnd(3, 2, 3), rnd(2, 2, 2), rnd(2, 2, 4)
    out, (h, c) = lstm(x, (h0, c0))
    want_out, want_h, want_c = np_rnn(lstm, npy(x), npy(h0), npy(c0))
    assert out.shape == (3, 2, 4)
    close(out, want_out, rtol=1e-9)
    close(h, want_h, rtol=1e-9)
    close(c, want_c, rtol=1e-9)
    assert repr(lstm) == "LSTM(3, 4, proj_size=2, bidirectional=True)"
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 2, 2\), got \[2, 2, 4\]"):
        lstm(x, (c0, c0))


def test_recurrent_grads():
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        mod = cls(2, 2, bidirectional=(cls is nn.GRU)).to(float_dtype())
        check_grad(mod, rnd(3, 1, 2, requires_grad=True), call=lambda m, x: m(x)[0])
    lstm = nn.LSTM(2, 2, num_layers=2).to(float_dtype())
    check_grad(lstm, rnd(2, 1, 2, requires_grad=True), call=lambda m, x: m(x)[1][1])


def test_cells():
    for cls, chunks in ((nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)):
        cell = cls(3, 4).to(float_dtype())
        assert cell.weight_ih.shape == (chunks * 4, 3) and cell.bias_hh.shape == (chunks * 4,)
        x, h = rnd(2, 3), rnd(2, 4)
        p = {n: npy(v) for n, v in cell.named_parameters()}
        gi = npy(x) @ p["weight_ih"].T + p["bias_ih"]
        gh = npy(h) @ p["weight_hh"].T + p["bias_hh"]
        if cls is nn.RNNCell:
            close(cell(x, h), np.tanh(gi + gh), rtol=1e-9)
            assert cell(x[0]).shape == (4,)
        elif cls is nn.LSTMCell:
            c = rnd(2, 4)
            i, f, g, o = np.split(gi + gh, 4, -1)
            c_new = sigmoid(f) * npy(c) + sigmoid(i) * np.tanh(g)
            h_new, c_out = cell(x, (h, c))
            close(c_out, c_new, rtol=1e-9)
            close(h_new, sigmoid(o) * np.tanh(c_new), rtol=1e-9)
        else:
            ir, iz, in_ = np.split(gi, 3, -1)
            hr, hz, hn = np.split(gh, 3, -1)
            r, z = sigmoid(ir + hr), sigmoid(iz + hz)
            close(cell(x, h), (1 - z) * np.tanh(in_ + r * hn) + z * npy(h), rtol=1e-9)
        call = (lambda m, a, b: m(a, b)) if cls is not nn.LSTMCell else (lambda m, a, b: m(a, (b, b))[0])
        check_grad(cell, rnd(1, 3, requires_grad=True), rnd(1, 4, requires_grad=True), call=call)
    assert repr(nn.RNNCell(2, 3, nonlinearity="relu")) == "RNNCell(2, 3, nonlinearity=relu)"


# ---------------------------------------------------------------------------- attention & transformer

def np_mha(mha, q, k, v, mask_add=None):
    """Reference multi-head attention on time-major (L, N, E) arrays; mask_add is (N*H or 1, L, S)."""
    E, H = mha.embed_dim, mha.num_heads
    hd = E // H
    W, B = npy(mha.in_proj_weight), npy(mha.in_proj_bias)
    qp = q @ W[:E].T + B[:E]
    kp = k @ W[E:2 * E].T + B[E:2 * E]
    vp = v @ W[2 * E:].T + B[2 * E:]
    L, N, _ = q.shape
    S = k.shape[0]

    def heads(t, n):
        return t.reshape(n, N * H, hd).transpose(1, 0, 2)

    scores = heads(qp, L) @ heads(kp, S).transpose(0, 2, 1) / math.sqrt(hd)
    if mask_add is not None:
        scores = scores + mask_add
    scores = scores - scores.max(-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(-1, keepdims=True)
    out = (w @ heads(vp, S)).transpose(1, 0, 2).reshape(L, N, E)
    out = out @ npy(mha.out_proj.weight).T + npy(mha.out_proj.bias)
    return out, w.reshape(N, H, L, S)


def test_multihead_attention_forward():
    mha = nn.MultiheadAttention(8, 2).to(float_dtype())
    assert [n for n, _ in mha.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                      "out_proj.bias"]
    assert float(mha.in_proj_bias.abs().sum()) == 0.0 and float(mha.out_proj.bias.abs().sum()) == 0.0
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    q, k = rnd(4, 3, 8), rnd(5, 3, 8)
    v = rnd(5, 3, 8)
    out, w = mha(q, k, v)
    want_out, want_w = np_mha(mha, npy(q), npy(k), npy(v))
    close(out, want_out, rtol=1e-9)
    close(w, want_w.mean(1), rtol=1e-9)
    _, w_all = mha(q, k, v, average_attn_weights=False)
    close(w_all, want_w, rtol=1e-9)
    assert mha(q, k, v, need_weights=False)[1] is None
    # key_padding_mask (bool, True = ignore) and a float attn_mask.
    kpm = torch.tensor([[False, False, False, True, True], [False] * 5, [True, False, False, False, False]])
    am = rnd(4, 5)
    out, w = mha(q, k, v, key_padding_mask=kpm, attn_mask=am)
    add = np.where(npy(kpm), -np.inf, 0.0)[:, None, None, :].repeat(2, 1).reshape(6, 1, 5) + npy(am)[None]
    want_out, want_w = np_mha(mha, npy(q), npy(k), npy(v), add)
    close(out, want_out, rtol=1e-9)
    close(w, want_w.mean(1), rtol=1e-9)
    # Boolean attn_mask: True = not allowed (causal).
    causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    out, _ = mha(q, q, q, attn_mask=causal)
    want_out, _ = np_mha(mha, npy(q), npy(q), npy(q), np.where(npy(causal), -np.inf, 0.0)[None])
    close(out, want_out, rtol=1e-9)


def test_multihead_attention_batch_first_unbatched_and_grad():
    mha = nn.MultiheadAttention(4, 2, batch_first=True).to(float_dtype())
    x = rnd(2, 3, 4)
    out, w = mha(x, x, x)
    want_out, want_w = np_mha(mha, npy(x).transpose(1, 0, 2), *(npy(x).transpose(1, 0, 2),) * 2)
    close(out, want_out.transpose(1, 0, 2), rtol=1e-9)
    out1, w1 = mha(x[0], x[0], x[0])
    assert out1.shape == (3, 4) and w1.shape == (3, 3)
    close(out1, want_out[:, 0], rtol=1e-9)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(5, 2)
    small = nn.MultiheadAttention(2, 1).to(float_dtype())
    check_grad(small, rnd(2, 1, 2, requires_grad=True), call=lambda m, q: m(q, q, q)[0])


def np_encoder_layer(layer, x, norm_first):
    def ln(t, m):
        return np_layer_norm(t, npy(m.weight), npy(m.bias), 1)

    def ff(t):
        h = np.maximum(t @ npy(layer.linear1.weight).T + npy(layer.linear1.bias), 0)
        return h @ npy(layer.linear2.weight).T + npy(layer.linear2.bias)

    def sa(t):
        return np_mha(layer.self_attn, t, t, t)[0]

    if norm_first:
        x = x + sa(ln(x, layer.norm1))
        return x + ff(ln(x, layer.norm2))
    x = ln(x + sa(x), layer.norm1)
    return ln(x + ff(x), layer.norm2)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer(norm_first):
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first).to(float_dtype())
    assert layer.linear1.weight.shape == (16, 8)
    x = rnd(5, 2, 8)
    close(layer(x), np_encoder_layer(layer, npy(x), norm_first), rtol=1e-8, atol=1e-10)
    enc = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8).to(float_dtype()))
    assert len(enc.layers) == 2 and enc.layers[0] is not layer
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    want = np_encoder_layer(enc.layers[1], np_encoder_layer(enc.layers[0], npy(x), norm_first), norm_first)
    close(enc(x), np_layer_norm(want, 1.0, 0.0, 1), rtol=1e-8, atol=1e-10)
    assert [n for n, _ in enc.named_parameters()][:3] == ["layers.0.self_attn.in_proj_weight",
                                                          "layers.0.self_attn.in_proj_bias",
                                                          "layers.0.self_attn.out_proj.weight"]


def test_transformer_encoder_layer_options_and_grad():
    bf = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0, batch_first=True,
                                    activation="gelu").to(float_dtype())
    assert bf.activation is torch.nn.functional.gelu
    x = rnd(2, 3, 4)
    assert bf(x).shape == (2, 3, 4)
    kpm = torch.tensor([[False, False, True], [False, False, False]])
    assert not np.isnan(npy(bf(x, src_key_padding_mask=kpm))).any()
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    mod_act = nn.TransformerEncoderLayer(4, 2, activation=nn.GELU())
    assert "activation" in dict(mod_act.named_children())
    tiny = nn.TransformerEncoderLayer(2, 1, dim_feedforward=2, dropout=0.0).to(float_dtype())
    check_grad(tiny, rnd(2, 1, 2, requires_grad=True), atol=1e-5, rtol=1e-3)
