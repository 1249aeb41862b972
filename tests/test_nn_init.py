"""nn.init: gains, fans, and the statistics of every initialiser (in place, no grad, returning the tensor)."""
import math
import warnings

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn as nn
from ferrograd.nn import init


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def big(*shape, requires_grad=True):
    return nn.Parameter(torch.zeros(*shape, dtype=torch.float64), requires_grad=requires_grad)


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2.0 / 6)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity softsign"):
        init.calculate_gain("softsign")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_in_and_fan_out():
    assert init._calculate_fan_in_and_fan_out(torch.zeros(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(torch.zeros(8, 4, 3, 2)) == (24, 48)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2"):
        init._calculate_fan_in_and_fan_out(torch.zeros(4))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(torch.zeros(2, 2), mode="fan_avg")


def test_in_place_no_grad_and_return_value():
    p = big(10, 10)
    for fn, args in [(init.uniform_, ()), (init.normal_, ()), (init.constant_, (0.3,)), (init.ones_, ()),
                     (init.zeros_, ()), (init.xavier_uniform_, ()), (init.xavier_normal_, ()),
                     (init.kaiming_uniform_, ()), (init.kaiming_normal_, ()), (init.trunc_normal_, ()),
                     (init.orthogonal_, ()), (init.eye_, ())]:
        out = fn(p, *args)
        assert out is p, fn.__name__
        assert p.is_leaf and p.grad_fn is None and p.requires_grad, fn.__name__
    np.testing.assert_array_equal(p.detach().numpy(), np.eye(10))
    init.constant_(p, 0.25)
    assert np.all(p.detach().numpy() == 0.25)
    init.ones_(p)
    assert np.all(p.detach().numpy() == 1.0)
    init.zeros_(p)
    assert np.all(p.detach().numpy() == 0.0)


def test_uniform_and_normal_statistics():
    t = init.uniform_(big(200, 100), -2.0, 3.0).detach().numpy()
    assert t.min() >= -2.0 and t.max() <= 3.0
    assert abs(t.mean() - 0.5) < 0.05 and abs(t.var() - 25 / 12) < 0.1
    t = init.normal_(big(200, 100), 1.0, 0.5).detach().numpy()
    assert abs(t.mean() - 1.0) < 0.02 and abs(t.std() - 0.5) < 0.02


def test_xavier_statistics():
    fan_in, fan_out = 300, 100
    t = init.xavier_uniform_(big(fan_out, fan_in), gain=2.0).detach().numpy()
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(t).max() <= bound and np.abs(t).max() > 0.95 * bound
    assert abs(t.std() - bound / math.sqrt(3)) < 0.02 * bound
    t = init.xavier_normal_(big(fan_out, fan_in)).detach().numpy()
    assert abs(t.std() - math.sqrt(2.0 / (fan_in + fan_out))) < 0.003
    assert abs(t.mean()) < 0.003


def test_kaiming_statistics():
    w = big(50, 40, 3, 3)  # fan_in = 360, fan_out = 450
    t = init.kaiming_uniform_(w, a=math.sqrt(5)).detach().numpy()
    bound = 1 / math.sqrt(360)  # the Linear/Conv default: gain sqrt(2/6) * sqrt(3/fan_in)
    assert np.abs(t).max() <= bound and np.abs(t).max() > 0.99 * bound
    t = init.kaiming_uniform_(w, nonlinearity="relu", mode="fan_out").detach().numpy()
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 450)
    assert np.abs(t).max() <= bound and np.abs(t).max() > 0.99 * bound
    t = init.kaiming_normal_(w, nonlinearity="relu").detach().numpy()
    assert abs(t.std() - math.sqrt(2.0 / 360)) < 0.002
    t = init.kaiming_normal_(w, mode="fan_out", nonlinearity="linear").detach().numpy()
    assert abs(t.std() - math.sqrt(1.0 / 450)) < 0.002
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        init.kaiming_uniform_(torch.zeros(0, 3))
    assert any("zero-element" in str(r.message) for r in rec)


def test_trunc_normal_statistics():
    t = init.trunc_normal_(big(400, 100), mean=0.5, std=2.0, a=-1.0, b=3.0).detach().numpy()
    assert t.min() >= -1.0 and t.max() <= 3.0
    # Mean and variance of N(0.5, 2^2) truncated to [-1, 3].
    from math import erf, exp, pi, sqrt
    alpha, beta = (-1.0 - 0.5) / 2.0, (3.0 - 0.5) / 2.0
    phi = lambda z: exp(-z * z / 2) / sqrt(2 * pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + erf(z / sqrt(2)))  # noqa: E731
    zmass = cdf(beta) - cdf(alpha)
    mean = 0.5 + 2.0 * (phi(alpha) - phi(beta)) / zmass
    var = 4.0 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / zmass - ((phi(alpha) - phi(beta)) / zmass) ** 2)
    assert abs(t.mean() - mean) < 0.02 and abs(t.var() - var) < 0.03
    std_normal = init.trunc_normal_(big(300, 100)).detach().numpy()
    assert np.abs(std_normal).max() <= 2.0 and abs(std_normal.std() - 0.8796) < 0.01
    f32 = init.trunc_normal_(torch.zeros(1000), std=0.02, a=-0.04, b=0.04)  # a, b are absolute bounds
    assert f32.dtype is torch.float32 and float(f32.abs().max()) <= 0.04


def test_orthogonal_eye_dirac():
    for shape in [(6, 6), (4, 9), (9, 4), (4, 2, 3)]:
        t = init.orthogonal_(big(*shape), gain=1.5).detach().numpy().reshape(shape[0], -1)
        rows, cols = t.shape
        gram = t @ t.T if rows <= cols else t.T @ t
        np.testing.assert_allclose(gram, 2.25 * np.eye(min(rows, cols)), atol=1e-10)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(torch.zeros(3))
    np.testing.assert_array_equal(init.eye_(big(2, 3)).detach().numpy(), np.eye(2, 3))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(torch.zeros(2, 2, 2))
    d = init.dirac_(big(2, 2, 3, 3)).detach().numpy()
    assert d.sum() == 2 and d[0, 0, 1, 1] == 1 and d[1, 1, 1, 1] == 1
    conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    x = torch.randn(1, 2, 4, 4)
    np.testing.assert_allclose(conv(x).detach().numpy(), x.numpy(), atol=1e-6)  # identity convolution


def test_layer_default_init_statistics():
    lin = nn.Linear(400, 300)
    w = lin.weight.detach().numpy()
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    b = lin.bias.detach().numpy()
    assert np.abs(b).max() <= bound and b.std() > 0.4 * bound
    emb = nn.Embedding(300, 100).weight.detach().numpy()
    assert abs(emb.std() - 1.0) < 0.02
    bn = nn.BatchNorm2d(4)
    assert np.all(bn.weight.detach().numpy() == 1) and np.all(bn.bias.detach().numpy() == 0)
    rnn = nn.GRU(5, 16)
    assert max(float(p.abs().max()) for p in rnn.parameters()) <= 0.25
    mha = nn.MultiheadAttention(16, 4)
    xavier = math.sqrt(6.0 / (16 + 48))
    assert float(mha.in_proj_weight.abs().max()) <= xavier


def test_deprecated_aliases_warn():
    with pytest.warns(FutureWarning, match="nn.init.uniform_"):
        init.uniform(torch.zeros(3))
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(torch.zeros(2, 2))
    t = init.sparse_(torch.zeros(10, 4), sparsity=0.3)
    assert all(int((t[:, j] == 0).sum()) >= 3 for j in range(4))
