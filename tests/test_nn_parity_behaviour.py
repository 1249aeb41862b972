"""What PyTorch fixtures cannot pin down for the layers of issue 17: random layers (their
statistics and structure), lazy modules, SyncBatchNorm in one process, and the errors
bad arguments raise. Runs on both devices."""
import copy
import pickle

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn as nn
import ferrograd.nn.functional as F
from helpers import float_dtype, np_of


def randn(*shape, requires_grad=False):
    return torch.randn(*shape, dtype=float_dtype(), requires_grad=requires_grad)


# ---------------------------------------------------------------------------- random layers

@pytest.mark.parametrize("cls,shape", [(nn.Dropout1d, (4, 16, 8)), (nn.Dropout1d, (16, 8)),
                                       (nn.Dropout3d, (4, 16, 2, 3, 2)), (nn.Dropout3d, (16, 2, 2, 2))])
def test_feature_dropout_zeroes_whole_channels(cls, shape):
    module = cls(0.5)
    x = torch.ones(*shape, dtype=float_dtype())
    out = np_of(module(x))
    spatial = 3 if isinstance(module, nn.Dropout3d) else 1
    per_channel = out.reshape(-1, int(np.prod(shape[-spatial:])))
    # Each channel is all zeros or all 1 / (1 - p).
    assert set(np.unique(per_channel).round(6)) <= {0.0, 2.0}
    assert all(len(set(row.round(6))) == 1 for row in per_channel)
    assert 0 < (per_channel[:, 0] == 0).mean() < 1
    module.eval()
    assert module(x) is x


def test_alpha_dropouts_keep_mean_and_variance():
    torch.manual_seed(0)
    x = randn(200, 500)
    out = np_of(nn.AlphaDropout(0.3)(x))
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.03
    feature = nn.FeatureAlphaDropout(0.5)
    y = np_of(feature(randn(64, 32, 4, 4)))
    # Whole channels take the same (dropped) value: its spatial std is 0.
    dropped = y.reshape(64, 32, -1).std(-1) == 0
    assert 0.3 < dropped.mean() < 0.7
    feature.eval()
    z = randn(2, 3, 4)
    assert feature(z) is z
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.FeatureAlphaDropout(1.5)


def test_rrelu_training_slopes_and_gradient():
    x = randn(1000, requires_grad=True)
    out = F.rrelu(x, 0.1, 0.3, training=True)
    out.sum().backward()
    xs, os_, gs = np_of(x), np_of(out), np_of(x.grad)
    neg = xs < 0
    slopes = os_[neg] / xs[neg]
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6 and slopes.std() > 0.03
    np.testing.assert_allclose(gs[neg], slopes, rtol=1e-5)
    np.testing.assert_allclose(os_[~neg], xs[~neg])
    np.testing.assert_allclose(gs[~neg], 1.0)
    np.testing.assert_allclose(np_of(nn.RReLU(0.1, 0.3).eval()(x)), np.where(xs >= 0, xs, xs * 0.2), rtol=1e-6)


def test_gumbel_softmax_soft_hard_and_straight_through():
    logits = randn(6, 5, requires_grad=True)
    torch.manual_seed(3)
    soft = F.gumbel_softmax(logits, tau=0.5)
    torch.manual_seed(3)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    np.testing.assert_allclose(np_of(soft).sum(-1), 1.0, rtol=1e-5)
    h = np_of(hard)
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    assert (h.argmax(-1) == np_of(soft).argmax(-1)).all()
    w = torch.tensor(np.random.default_rng(0).uniform(size=(6, 5)), dtype=float_dtype())
    g_soft = torch.autograd.grad((soft * w).sum(), logits, retain_graph=True)[0]
    g_hard = torch.autograd.grad((hard * w).sum(), logits)[0]
    np.testing.assert_allclose(np_of(g_hard), np_of(g_soft), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- lazy modules

def test_lazy_linear_infers_in_place_and_becomes_linear():
    lazy = nn.LazyLinear(3, dtype=float_dtype())
    weight = lazy.weight
    assert isinstance(weight, nn.UninitializedParameter) and lazy.has_uninitialized_params()
    twin = copy.deepcopy(lazy)
    pickled = pickle.loads(pickle.dumps(lazy))
    out = lazy(randn(2, 4, 5))
    assert type(lazy) is nn.Linear and lazy.in_features == 5 and out.shape == (2, 4, 3)
    # The same Parameter object now holds the data: an optimizer built before sees it.
    assert lazy.weight is weight and type(weight) is nn.Parameter and weight.shape == (3, 5)
    assert twin(randn(7)).shape == (3,) and twin.weight.shape == (3, 7)
    assert pickled(randn(6)).shape == (3,) and type(pickled) is nn.Linear and not pickled._forward_pre_hooks


def test_lazy_modules_load_state_dict_and_infer_channels():
    conv = nn.Conv2d(4, 6, 3, groups=2, dtype=float_dtype())
    lazy = nn.LazyConv2d(6, 3, groups=2, dtype=float_dtype())
    lazy.load_state_dict(conv.state_dict())
    assert lazy.weight.shape == (6, 2, 3, 3)
    x = randn(1, 4, 5, 5)
    np.testing.assert_allclose(np_of(lazy(x)), np_of(conv(x)), rtol=1e-6, atol=1e-6)
    assert type(lazy) is nn.Conv2d
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.LazyConv1d(4, 3, groups=2)(randn(1, 3, 8))
    cases = [(nn.LazyConvTranspose3d, (2, 3, 2, 2, 2), 3, dict(out_channels=2, kernel_size=2)),
             (nn.LazyBatchNorm1d, (4, 5), 5, {}), (nn.LazyInstanceNorm2d, (3, 4, 4), 3, {}),
             (nn.LazyBatchNorm3d, (2, 2, 2, 2, 2), 2, {})]
    for cls, shape, features, kwargs in cases:
        m = pickle.loads(pickle.dumps(copy.deepcopy(cls(**kwargs).to(dtype=float_dtype()))))
        m(randn(*shape))
        assert not isinstance(m, nn.modules.lazy.LazyModuleMixin)
        size = m.in_channels if hasattr(m, "in_channels") else m.num_features
        assert size == features, cls.__name__


# ---------------------------------------------------------------------------- SyncBatchNorm

def test_sync_batch_norm_is_batch_norm_without_a_process_group_and_converts_models(monkeypatch):
    """Without an initialised process group (as PyTorch, whatever the launcher's variables say)
    SyncBatchNorm is BatchNorm; across processes it is tested in tests/test_distributed.py."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    bn, sync = nn.BatchNorm1d(3, momentum=0.2), nn.SyncBatchNorm(3, momentum=0.2)
    x = randn(4, 3, 2)
    np.testing.assert_allclose(np_of(sync(x)), np_of(bn(x)), rtol=1e-6)
    np.testing.assert_allclose(np_of(sync.running_var), np_of(bn.running_var), rtol=1e-6)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        sync(randn(3))
    with pytest.raises(ValueError, match="SyncBatchNorm number of input channels should be non-zero"):
        nn.SyncBatchNorm(0)(randn(2, 0))
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(3)))
    net[1].running_mean.fill_(0.5)
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert type(synced[1]) is nn.SyncBatchNorm and type(synced[2][0]) is nn.SyncBatchNorm
    assert synced[1].weight is net[1].weight and float(synced[1].running_mean[0]) == 0.5


# ---------------------------------------------------------------------------- arguments and errors

def test_embedding_bag_max_norm_and_rms_norm_default_eps():
    bag = nn.EmbeddingBag(5, 3, max_norm=1.0, mode="sum", dtype=float_dtype())
    with torch.no_grad():
        bag.weight.mul_(10)
    bag(torch.tensor([[0, 1], [1, 4]]))
    norms = np.linalg.norm(np_of(bag.weight), axis=1)
    assert (norms[[0, 1, 4]] <= 1.0 + 1e-4).all() and (norms[[2, 3]] > 1.5).all()
    x = torch.tensor(np.full((2, 3), 1e-5), dtype=float_dtype())
    eps = 1.1920928955078125e-07 if float_dtype() is torch.float32 else 2.220446049250313e-16
    np.testing.assert_allclose(np_of(F.rms_norm(x, (3,))), 1e-5 / np.sqrt(1e-10 + eps), rtol=1e-4)


@pytest.mark.parametrize("call,error,match", [
    (lambda x: F.interpolate(x, size=4, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (lambda x: F.interpolate(x, mode="linear", size=4), NotImplementedError, "Got 4D input, but linear mode needs 3D"),
    (lambda x: F.interpolate(x, size=4, align_corners=True), ValueError, "align_corners option can only be set"),
    (lambda x: F.interpolate(x, size=(4,)), ValueError, "must have the same number of spatial dimensions"),
    (lambda x: F.interpolate(x, size=4, mode="cubic"), NotImplementedError, r"\(got cubic\)"),
    (lambda x: F.interpolate(x, size=4, antialias=True), ValueError, "Anti-alias option is restricted to bilinear"),
    (lambda x: F.grid_sample(x, x.new_zeros(2, 2, 2, 2), mode="area"), ValueError, "expected mode to be"),
    (lambda x: F.grid_sample(x, x.new_zeros(2, 2, 2, 3)), RuntimeError, "expected grid of shape"),
    (lambda x: F.pixel_shuffle(x, 2), RuntimeError, "divisible by the square of upscale_factor"),
    (lambda x: F.channel_shuffle(x, 2), RuntimeError, "Got 3 channels and 2 groups"),
    (lambda x: F.affine_grid(x[0, :2, :2], [1, 1, 2, 2]), ValueError, "Nx2x3"),
    (lambda x: F.pdist(x), RuntimeError, "pdist only supports 2D tensors, got: 4D"),
    (lambda x: nn.Conv3d(3, 4, 3)(x[:, :2].unsqueeze(2)), RuntimeError,
     r"weight of size \[4, 3, 3, 3, 3\], expected input\[2, 2, 1, 3, 4\] to have 3 channels, but got 2"),
    (lambda x: nn.ConvTranspose3d(3, 4, 1)(x[:, :2].unsqueeze(2)), RuntimeError,
     r"transposed=1, weight of size \[3, 4, 1, 1, 1\], expected input\[2, 2, 1, 3, 4\] to have 3 channels"),
    (lambda x: nn.ConvTranspose1d(3, 4, 1)(x[:, :2, 0]), RuntimeError, "to have 3 channels, but got 2"),
    (lambda x: nn.TransformerDecoderLayer(4, 2, dtype=float_dtype())(x[0], x[0, :, :2]), RuntimeError,
     r"key and value must have the query's batch size 3 .* got query \[3, 3, 4\], key \[3, 2, 4\]"),
    (lambda x: F.conv3d(x, x), RuntimeError, "conv3d: expected a 5-D weight, got weight of size \\[2, 3, 3, 4\\]"),
    (lambda x: F.max_unpool2d(x, x.long(), 2, output_size=(9, 9)), ValueError, "invalid output_size"),
    (lambda x: F.multi_margin_loss(x[0, 0], torch.tensor([0, 1, 2, 0]), p=3), ValueError, "only p == 1 and p == 2"),
    (lambda x: F.embedding_bag(torch.tensor([[0, 1]]), x[0, 0], mode="mean",
                               per_sample_weights=x[0, 0, 0, :2].reshape(1, 2)), NotImplementedError,
     "per_sample_weights is only supported for mode='sum'"),
    (lambda x: F.ctc_loss(x[0].log_softmax(-1), torch.tensor([[1]]), [4, 4, 4], [1, 1, 1], blank=7), RuntimeError,
     "blank must be in label range"),
    (lambda x: F.gaussian_nll_loss(x, x, -x.abs() - 1), ValueError, "var has negative entry"),
    (lambda x: nn.ReflectionPad2d(4)(x), RuntimeError, "Padding size should be less than"),
    (lambda x: nn.InstanceNorm3d(3)(x[0, 0]), ValueError, "expected 4D or 5D input \\(got 2D input\\)"),
])
def test_bad_arguments_raise_clear_errors(call, error, match):
    x = randn(2, 3, 3, 4)
    with pytest.raises(error, match=match):
        call(x)


def test_hardtanh_deprecated_keywords():
    with pytest.warns(FutureWarning) as caught:
        m = nn.Hardtanh(min_value=-0.5, max_value=0.25)
    assert [str(w.message) for w in caught] == [
        "keyword argument `min_value` is deprecated and renamed to `min_val`",
        "keyword argument `max_value` is deprecated and renamed to `max_val`"]
    assert (m.min_val, m.max_val) == (-0.5, 0.25)
    np.testing.assert_allclose(np_of(m(torch.tensor([-2.0, 0.1, 3.0]))), [-0.5, 0.1, 0.25])


def test_shrinks_keep_nan():
    x = torch.tensor([float("nan"), 0.2, -0.7], dtype=float_dtype())
    for f in (F.hardshrink, F.softshrink, F.tanhshrink):
        out = np_of(f(x))
        assert np.isnan(out[0]) and not np.isnan(out[1:]).any(), f.__name__


def test_grouped_mm_against_numpy():
    rng = np.random.default_rng(0)
    a2, b3 = rng.uniform(-1, 1, (8, 4)), rng.uniform(-1, 1, (3, 4, 5))
    a3, b2 = rng.uniform(-1, 1, (3, 6, 4)), rng.uniform(-1, 1, (4, 8))
    offs = torch.tensor([2, 5, 7])
    t = lambda a: torch.tensor(a, dtype=float_dtype(), requires_grad=True)  # noqa: E731
    out = np_of(F.grouped_mm(t(a2), t(b3), offs=offs))
    want = np.concatenate([a2[0:2] @ b3[0], a2[2:5] @ b3[1], a2[5:7] @ b3[2], np.zeros((1, 5))])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    out = np_of(F.grouped_mm(t(a3), t(b2), offs=offs))
    want = np.concatenate([a3[0] @ b2[:, 0:2], a3[1] @ b2[:, 2:5], a3[2] @ b2[:, 5:7], np.zeros((6, 1))], 1)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    out = np_of(F.grouped_mm(t(b2.T.copy()), t(b2), offs=offs))
    want = np.stack([b2.T[:, s:e] @ b2[s:e] for s, e in ((0, 2), (2, 5), (5, 7))])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_of(F.grouped_mm(t(a3), t(a3.transpose(0, 2, 1).copy()))),
                               a3 @ a3.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="offs is required"):
        F.grouped_mm(t(a2), t(b3))
