"""nn.Module semantics: registration, iteration, state_dict, hooks, modes, conversion, repr, containers, utils."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import ferrograd as torch
from helpers import float_dtype
import ferrograd.nn as nn
import ferrograd.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 2, bias=False)
        self.register_buffer("step", torch.zeros(1))
        self.register_buffer("scratch", torch.ones(2), persistent=False)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.fc2(F.relu(self.bn(self.fc1(x)))) * self.scale


def test_registration_and_named_members():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "step", "scratch", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["fc1", "bn", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "bn", "fc2"]
    assert [n for n, _ in net.named_parameters(prefix="m", recurse=False)] == ["m.scale"]
    assert len(list(net.parameters())) == 6
    assert len(list(net.buffers(recurse=False))) == 2
    assert net.fc2.bias is None
    assert isinstance(net.fc1.weight, nn.Parameter)
    assert net.get_submodule("fc1") is net.fc1
    assert net.get_parameter("fc1.bias") is net.fc1.bias
    assert net.get_buffer("bn.running_mean") is net.bn.running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("nope")
    with pytest.raises(AttributeError, match="`bn` is not an nn.Parameter"):
        net.get_parameter("bn")
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'missing'"):
        net.missing


def test_setattr_rules_and_errors():
    m = nn.Module()
    m.w = nn.Parameter(torch.ones(2))
    assert "w" in m._parameters
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'w'"):
        m.w = torch.ones(2)
    m.w = None
    assert m._parameters["w"] is None and m.w is None
    m.sub = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = 3
    m.register_buffer("b", torch.zeros(1))
    m.b = torch.ones(3)  # a plain tensor assigned to a buffer name stays a buffer
    assert m._buffers["b"].shape == (3,)
    with pytest.raises(TypeError, match="as buffer 'b'"):
        m.b = 5
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        m.register_buffer("training", torch.zeros(1))
    with pytest.raises(KeyError, match="parameter name can"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="torch.nn.Parameter or None required"):
        m.register_parameter("q", torch.ones(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)

    class Early(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(torch.ones(1))

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__\\(\\) call"):
        Early()
    # Re-assigning a name moves it between the registries.
    m.sub = nn.Parameter(torch.ones(1))
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub
    assert "sub" not in m._parameters
    m.register_module("lin", nn.Linear(2, 2))
    assert "lin" in dir(m) and "b" in dir(m)
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        m(torch.ones(1))
    # A parameter with a grad_fn (not a leaf) is rejected.

    class _NonLeaf(nn.Parameter):
        @property
        def grad_fn(self):
            return object()

    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'nl'"):
        m.register_parameter("nl", _NonLeaf(torch.ones(2)))


def test_shared_parameters_deduplicated():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    tied = nn.Module()
    tied.a = nn.Linear(3, 3)
    tied.b = nn.Linear(3, 3)
    tied.b.weight = tied.a.weight
    assert [n for n, _ in tied.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert list(tied.state_dict().keys()) == ["a.weight", "a.bias", "b.weight", "b.bias"]


def test_state_dict_round_trip_and_keys():
    torch.manual_seed(0)
    a, b = Net(), Net()
    sd = a.state_dict()
    assert list(sd.keys()) == ["scale", "step", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean",
                               "bn.running_var", "bn.num_batches_tracked", "fc2.weight"]
    assert "scratch" not in sd  # non-persistent
    assert all(not v.requires_grad for v in sd.values())
    assert not isinstance(sd["fc1.weight"], nn.Parameter)
    assert sd["fc1.weight"]._same_storage(a.fc1.weight)  # detached views, not copies
    assert a.state_dict(keep_vars=True)["fc1.weight"] is a.fc1.weight
    assert list(a.fc1.state_dict(prefix="x.").keys()) == ["x.weight", "x.bias"]
    w_before = b.fc1.weight
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert b.fc1.weight is w_before  # loaded in place
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.cpu().numpy(), sd[k].cpu().numpy())
    x = torch.randn(5, 4)
    a.eval(), b.eval()
    np.testing.assert_allclose(a(x).detach().cpu().numpy(), b(x).detach().cpu().numpy())


def test_load_state_dict_errors():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["fc3.weight"] = torch.zeros(1)
    sd["extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: \"fc1.bias\". ")
    assert '\n\tUnexpected key(s) in state_dict: "fc3.weight", "extra". ' in msg
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["fc1.bias"] and unexpected == ["fc3.weight", "extra"]
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias"]
    bad = net.state_dict()
    bad["fc1.weight"] = torch.zeros(2, 2)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: copying a param with shape "
                                           r"torch.Size\(\[2, 2\]\) from checkpoint, the shape in current model is "
                                           r"torch.Size\(\[3, 4\]\)."):
        net.load_state_dict(bad, strict=False)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])


def test_batchnorm_old_checkpoint_without_num_batches_tracked():
    bn = nn.BatchNorm1d(2)
    sd = dict(bn.state_dict())  # a plain dict has no version metadata
    del sd["num_batches_tracked"]
    assert bn.load_state_dict(sd).missing_keys == []


def test_train_eval_propagation():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(2)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net[1][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    lin = nn.Linear(3, 2)
    lin(torch.randn(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and float(lin.weight.grad.abs().sum()) == 0.0
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    assert lin.requires_grad_(False) is lin
    assert not lin.weight.requires_grad
    lin.requires_grad_()
    assert lin.weight.requires_grad


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    out = lin(torch.ones(1, 2))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(out.detach().cpu().numpy(), lin.bias.detach().cpu().numpy()[None] + 1, rtol=1e-6)
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    calls.clear()
    lin(torch.ones(1, 2))
    assert calls == []

    seen = {}

    def kw_hook(mod, args, kwargs, out):
        seen["kwargs"] = dict(kwargs)

    with lin.register_forward_hook(kw_hook, with_kwargs=True):
        lin(input=torch.ones(1, 2))
    assert "input" in seen["kwargs"]
    assert not lin._forward_hooks

    order = []
    lin.register_forward_hook(lambda m, a, o: order.append(1))
    lin.register_forward_hook(lambda m, a, o: order.append(0), prepend=True)
    lin(torch.ones(1, 2))
    assert order == [0, 1]


def test_repr_small_net():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (fc1): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (bn): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (fc2): Linear(in_features=3, out_features=2, bias=False)\n"
        ")")
    seq = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)),
                                     ("act", nn.LeakyReLU(0.2, inplace=True)),
                                     ("block", nn.Sequential(nn.Dropout(0.25), nn.GELU(approximate="tanh")))]))
    assert repr(seq) == (
        "Sequential(\n"
        "  (conv): Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
        "  (act): LeakyReLU(negative_slope=0.2, inplace=True)\n"
        "  (block): Sequential(\n"
        "    (0): Dropout(p=0.25, inplace=False)\n"
        "    (1): GELU(approximate='tanh')\n"
        "  )\n"
        ")")
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()])) == (
        "ModuleList(\n  (0-1): 2 x ReLU()\n  (2): Tanh()\n)")
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool1d(3)) == "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"
    assert repr(nn.Conv1d(2, 4, 3, padding="same", dilation=2, groups=2, padding_mode="reflect")) == (
        "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same, dilation=(2,), groups=2, padding_mode=reflect)")
    assert repr(nn.LayerNorm([2, 3])) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.Hardtanh(-2.0, 2.0)) == "Hardtanh(min_val=-2.0, max_val=2.0)"
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Identity()) == "Identity()"


@pytest.mark.cpu_only("float64 parameters; the GPU computes in float32")
def test_to_double_float_and_dtype_rules():
    net = Net()
    w_id = id(net.fc1.weight)
    assert net.to("cpu") is net and id(net.fc1.weight) == w_id  # device no-op keeps identity
    assert net.float() is net and id(net.fc1.weight) == w_id  # already float32
    net.double()
    assert net.fc1.weight.dtype is torch.float64 and isinstance(net.fc1.weight, nn.Parameter)
    assert net.fc1.weight.requires_grad and net.fc1.weight.is_leaf
    assert net.bn.running_mean.dtype is torch.float64
    assert net.bn.num_batches_tracked.dtype is torch.int64  # integer buffers keep their dtype
    out = net(torch.randn(3, 4, dtype=torch.float64))
    out.sum().backward()
    assert net.fc1.weight.grad.dtype is torch.float64
    net.to(torch.float32)
    assert net.fc1.weight.dtype is torch.float32 and net.fc1.weight.grad.dtype is torch.float32
    net.to(dtype=torch.float64)
    assert net.scale.dtype is torch.float64
    net.to(torch.zeros(1))  # to(tensor) takes its dtype
    assert net.scale.dtype is torch.float32
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        net.to(torch.int64)
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "BatchNorm1d", "Linear", "Net"]


def test_deepcopy_module_is_independent():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    clone = copy.deepcopy(net)
    with torch.no_grad():
        clone[0].weight.fill_(0.0)
    assert float(net[0].weight.abs().sum()) > 0
    assert clone[0].weight is not net[0].weight


# ---------------------------------------------------------------------------- containers

def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub._modules.keys()) == ["1", "2"]
    x = torch.randn(4, 2)
    np.testing.assert_allclose(seq(x).detach().cpu().numpy(), c(b(a(x))).detach().cpu().numpy())
    d = nn.Tanh()
    seq.append(d)
    assert seq[3] is d
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and seq[1] is a and len(seq) == 5
    seq.extend([nn.Sigmoid()])
    assert isinstance(seq[5], nn.Sigmoid)
    del seq[0]
    assert seq[0] is a and list(seq._modules.keys()) == ["0", "1", "2", "3", "4"]
    seq[1] = nn.ELU()
    assert isinstance(seq[1], nn.ELU)
    with pytest.raises(IndexError, match="index 10 is out of range"):
        seq[10]
    od = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
    assert od.first is a and list(od._modules) == ["first", "second"]
    assert len(seq + nn.Sequential(nn.ReLU())) == 6
    assert seq.pop(0) is a


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in layers] == ["Linear", "Sigmoid", "Linear", "Linear", "ReLU", "Tanh"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[1]
    assert isinstance(layers[1], nn.Linear) and list(layers._modules) == ["0", "1", "2", "3", "4"]
    layers += [nn.Identity()]
    assert isinstance(layers[-1], nn.Identity)
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        layers.extend(3)
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert [k for k, _ in md.items()] == ["a", "b", "c"]
    assert isinstance(md.pop("b"), nn.ReLU) and list(md) == ["a", "c"]
    md.update([("d", nn.Identity())])
    assert list(md) == ["a", "c", "d"]
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(torch.ones(2)), torch.zeros(3)])
    assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
    pl.append(torch.ones(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert pl[1].shape == (3,)
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        pl()
    pd = nn.ParameterDict({"b": torch.ones(2), "a": nn.Parameter(torch.zeros(1))})
    assert list(pd.keys()) == ["a", "b"]  # plain dicts are sorted, as in PyTorch
    assert isinstance(pd["b"], nn.Parameter)
    pd["c"] = torch.ones(4)
    assert "c" in pd and len(pd) == 3
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c"]
    del pd["a"]
    assert list(pd) == ["b", "c"]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = nn.ParameterList([torch.ones(2)])

    assert list(Holder().state_dict().keys()) == ["ps.0"]


# ---------------------------------------------------------------------------- losses

def test_loss_modules_match_functional():
    torch.manual_seed(0)
    x = torch.randn(4, 3, dtype=float_dtype())
    y = torch.randn(4, 3, dtype=float_dtype())
    t = torch.tensor([0, 2, 1, 2])
    p = torch.sigmoid(x)
    b = (torch.rand(4, 3, dtype=float_dtype()) > 0.5).to(float_dtype())
    pairs = [
        (nn.MSELoss()(x, y), ((x - y) ** 2).mean()),
        (nn.MSELoss(reduction="sum")(x, y), ((x - y) ** 2).sum()),
        (nn.L1Loss()(x, y), (x - y).abs().mean()),
        (nn.SmoothL1Loss(beta=0.5)(x, y), F.smooth_l1_loss(x, y, beta=0.5)),
        (nn.HuberLoss(delta=0.7)(x, y), F.huber_loss(x, y, delta=0.7)),
        (nn.CrossEntropyLoss()(x, t), F.cross_entropy(x, t)),
        (nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=1)(x, t),
         F.cross_entropy(x, t, ignore_index=1, label_smoothing=0.1)),
        (nn.NLLLoss(weight=torch.tensor([1.0, 2.0, 3.0], dtype=float_dtype()))(F.log_softmax(x, 1), t),
         F.nll_loss(F.log_softmax(x, 1), t, weight=torch.tensor([1.0, 2.0, 3.0], dtype=float_dtype()))),
        (nn.BCELoss()(p, b), F.binary_cross_entropy(p, b)),
        (nn.BCEWithLogitsLoss(pos_weight=torch.full((3,), 2.0, dtype=float_dtype()))(x, b),
         F.binary_cross_entropy_with_logits(x, b, pos_weight=torch.full((3,), 2.0, dtype=float_dtype()))),
        (nn.KLDivLoss(reduction="batchmean")(F.log_softmax(x, 1), F.softmax(y, 1)),
         F.kl_div(F.log_softmax(x, 1), F.softmax(y, 1), reduction="batchmean")),
    ]
    for got, want in pairs:
        np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(), rtol=1e-12)
    # Reference check of cross entropy against numpy.
    xs = x.cpu().numpy()
    logp = xs - np.log(np.exp(xs).sum(1, keepdims=True))
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(x, t).cpu().numpy(),
                               -logp[np.arange(4), t.cpu().numpy()], rtol=1e-12 if x.dtype == torch.float64 else 1e-5)
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.L1Loss(reduce=False).reduction == "none"
    ce = nn.CrossEntropyLoss(weight=torch.ones(3))
    assert "weight" in dict(ce.named_buffers())


# ---------------------------------------------------------------------------- nn.utils

def test_clip_grad_norm():
    import ferrograd.nn.utils as U
    p1 = nn.Parameter(torch.zeros(3, dtype=float_dtype()))
    p2 = nn.Parameter(torch.zeros(2, dtype=float_dtype()))
    p1.grad = torch.tensor([3.0, 0.0, 4.0], dtype=float_dtype())
    p2.grad = torch.tensor([0.0, 12.0], dtype=float_dtype())
    total = U.clip_grad_norm_([p1, p2], max_norm=1.3)
    assert math.isclose(float(total), 13.0, rel_tol=1e-12)
    new_norm = math.sqrt(float((p1.grad ** 2).sum()) + float((p2.grad ** 2).sum()))
    assert math.isclose(new_norm, 1.3, rel_tol=1e-5)
    # Below the threshold nothing changes.
    p1.grad = torch.tensor([0.3, 0.0, 0.4], dtype=float_dtype())
    total = nn.utils.clip_grad_norm_(p1, 5.0)
    assert math.isclose(float(total), 0.5, rel_tol=1e-12)
    np.testing.assert_allclose(p1.grad.cpu().numpy(), [0.3, 0.0, 0.4])
    # inf norm and other p.
    p1.grad = torch.tensor([1.0, -7.0, 2.0], dtype=float_dtype())
    p2.grad = torch.tensor([3.0, 5.0], dtype=float_dtype())
    total = nn.utils.clip_grad_norm_([p1, p2], 3.5, norm_type=float("inf"))
    assert float(total) == 7.0
    assert math.isclose(float(p1.grad.abs().max()), 3.5, rel_tol=1e-5)
    p1.grad = torch.tensor([1.0, -2.0, 2.0], dtype=float_dtype())
    total = nn.utils.clip_grad_norm_([p1], 100.0, norm_type=1)
    assert float(total) == 5.0
    p1.grad = torch.tensor([float("nan"), 1.0, 1.0], dtype=float_dtype())
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_([p1], 1.0, error_if_nonfinite=True)
    assert float(nn.utils.clip_grad_norm_([nn.Parameter(torch.ones(1))], 1.0)) == 0.0  # no grads


def test_clip_grad_value_and_vector_conversion():
    lin = nn.Linear(3, 2)
    lin(torch.randn(5, 3) * 10).sum().backward()
    nn.utils.clip_grad_value_(lin.parameters(), 0.1)
    assert float(lin.weight.grad.abs().max()) <= 0.1 + 1e-7
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_allclose(vec.detach().cpu().numpy()[:6], lin.weight.detach().cpu().numpy().reshape(-1))
    w = lin.weight
    nn.utils.vector_to_parameters(torch.arange(8.0), lin.parameters())
    assert lin.weight is w
    np.testing.assert_allclose(lin.bias.detach().cpu().numpy(), [6.0, 7.0])
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], lin.parameters())
    padded = nn.utils.rnn.pad_sequence([torch.ones(2), torch.ones(3)], batch_first=True, padding_value=-1.0)
    np.testing.assert_array_equal(padded.cpu().numpy(), [[1, 1, -1], [1, 1, 1]])


def test_training_loop_reduces_loss():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(32, 2)
    y = (x[:, :1] * 2 - x[:, 1:]) * 0.5
    loss_fn = nn.MSELoss()
    first = None
    for _ in range(60):
        net.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        with torch.no_grad():
            for p in net.parameters():
                p.sub_(p.grad * 0.1)
        first = float(loss) if first is None else first
    assert float(loss) < first * 0.5


def test_load_state_dict_assign_buffers_and_pickle():
    import pickle
    src, dst = nn.Linear(3, 2), nn.Linear(3, 2)
    sd = src.state_dict()
    old = dst.weight
    dst.load_state_dict(sd, assign=True)
    assert dst.weight is not old and isinstance(dst.weight, nn.Parameter) and dst.weight.requires_grad
    assert dst.weight._same_storage(src.weight)
    m = nn.Module()
    m.buf = nn.Buffer(torch.ones(2), persistent=False)
    assert "buf" in m._buffers and list(m.state_dict()) == []
    m.keep = nn.Buffer(torch.zeros(1))
    assert list(m.state_dict()) == ["keep"]
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    clone = pickle.loads(pickle.dumps(net))
    x = torch.randn(3, 2)
    net.eval(), clone.eval()
    np.testing.assert_allclose(clone(x).detach().cpu().numpy(), net(x).detach().cpu().numpy())
