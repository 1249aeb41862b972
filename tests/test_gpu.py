"""The GPU backend (WGSL through wgpu) against the CPU and numpy: element-wise ops with
broadcasting and strides, reductions, matmul, softmax, gradients, transfers, device errors.

Skipped when no GPU adapter is found, unless FERROGRAD_REQUIRE_GPU=1 (as in CI, where Mesa's
lavapipe provides a software Vulkan adapter), in which case a missing adapter fails.
"""

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
from ferrograd._registry import UNARY_NAMES

from helpers import GPU, REQUIRE_GPU, close_on_gpu, needs_gpu, np_of, output_and_grads


def test_gpu_adapter_present_when_required():
    if REQUIRE_GPU:
        assert torch.gpu.is_available(), f"FERROGRAD_REQUIRE_GPU=1 but no GPU: {torch.gpu.unavailable_reason()}"
    else:
        assert torch.gpu.is_available() in (True, False)








BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "atan2", "eq", "ne", "lt", "le", "gt", "ge"]
UNARY = list(UNARY_NAMES)  # every unary op of the Rust table


@needs_gpu
@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcast_and_strided(op):
    a = torch.randn(4, 1, 5) * 2
    b = torch.randn(3, 5).abs() + 0.5 if op == "pow" else torch.randn(3, 5)
    if op == "pow":
        a = a.abs() + 0.1
    b = b.t().contiguous().t()  # strided operand
    f = getattr(torch, op)
    close_on_gpu(f(a.to(GPU), b.to(GPU)), f(a, b), rtol=2e-5)
    # a transposed view and a Python scalar
    at = a[:, 0, :].t()
    close_on_gpu(f(at.to(GPU).t().t(), 1.5), f(at, 1.5), rtol=2e-5)
    close_on_gpu(f(at.t().to(GPU).t(), 1.5), f(at, 1.5), rtol=2e-5)


@needs_gpu
def test_binary_special_values():
    a = torch.tensor([0.0, -2.0, 2.0, float("nan"), float("inf"), -0.5])
    b = torch.tensor([0.0, 3.0, 0.5, 1.0, 2.0, 2.0])
    for f in (torch.pow, torch.maximum, torch.minimum, torch.div):
        close_on_gpu(f(a.to(GPU), b.to(GPU)), f(a, b))


@needs_gpu
@pytest.mark.parametrize("op", UNARY)
def test_unary(op):
    x = torch.randn(6, 7) * 2
    if op in ("log", "log2", "log10", "sqrt", "rsqrt"):
        x = x.abs() + 0.1
    if op in ("asin", "acos"):
        x = x.clamp(-0.99, 0.99)
    if op == "log1p":
        x = x.abs()
    x[0, 0] = 0.0
    if op == "bitwise_not":  # integers only
        x = x.long()
    f = getattr(torch, op)
    close_on_gpu(f(x.to(GPU).t()), f(x.t()), rtol=3e-5, atol=3e-6)


@needs_gpu
def test_logical_and_where():
    a = torch.randn(5, 4)
    b = torch.randn(4)
    m = a > 0
    mg = m.to(GPU)
    assert mg.dtype == torch.bool and np_of(mg).tolist() == m.tolist()
    close_on_gpu(torch.logical_and(mg, (b > 0).to(GPU)), torch.logical_and(m, b > 0))
    close_on_gpu(~mg, ~m)
    close_on_gpu(torch.where(mg, a.to(GPU), b.to(GPU)), torch.where(m, a, b))
    close_on_gpu(torch.where(mg, a.to(GPU), 0.0), torch.where(m, a, 0.0))
    close_on_gpu(mg.float(), m.float())
    close_on_gpu(a.to(GPU).bool(), a.bool())


@needs_gpu
@pytest.mark.parametrize("shape,dim", [((7,), None), ((3, 5), 0), ((3, 5), 1), ((4, 3, 6), (0, 2)),
                                       ((2, 3, 4), -1), ((100_000,), None), ((3, 70_000), 1), ((70_000, 3), 0)])
def test_sum_mean(shape, dim):
    x = torch.randn(*shape)
    g = x.to(GPU)
    for keepdim in (False, True):
        if dim is None:
            close_on_gpu(g.sum(), x.sum(), rtol=1e-4, atol=1e-3)
            close_on_gpu(g.mean(), x.mean(), rtol=1e-4, atol=1e-5)
        else:
            close_on_gpu(g.sum(dim, keepdim=keepdim), x.sum(dim, keepdim=keepdim), rtol=1e-4, atol=1e-3)
            close_on_gpu(g.mean(dim, keepdim=keepdim), x.mean(dim, keepdim=keepdim), rtol=1e-4, atol=1e-5)
    xt = x.t() if x.ndim == 2 else x
    close_on_gpu(xt.to(GPU).t().t().sum(0), xt.sum(0), rtol=1e-4, atol=1e-3) if x.ndim == 2 else None


@needs_gpu
def test_amax_amin_var():
    x = torch.randn(5, 9)
    g = x.to(GPU)
    close_on_gpu(g.amax(1), x.amax(1))
    close_on_gpu(g.amin(0, keepdim=True), x.amin(0, keepdim=True))
    close_on_gpu(g.amax(), x.amax())
    close_on_gpu(g.var(1), x.var(1), rtol=1e-4)
    close_on_gpu(g.std(), x.std(), rtol=1e-4)


@needs_gpu
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 7, 3), (64, 64, 64), (65, 17, 130), (128, 300, 1)])
def test_matmul(m, k, n):
    a, b = torch.randn(m, k), torch.randn(k, n)
    close_on_gpu(a.to(GPU) @ b.to(GPU), a @ b, rtol=1e-4, atol=1e-4)
    # transposed operands through strides, no copies
    at, bt = torch.randn(k, m), torch.randn(n, k)
    close_on_gpu(at.to(GPU).t() @ bt.to(GPU).t(), at.t() @ bt.t(), rtol=1e-4, atol=1e-4)


@needs_gpu
def test_matmul_batched_broadcast_and_vectors():
    a, b = torch.randn(2, 3, 5, 4), torch.randn(3, 4, 6)
    close_on_gpu(a.to(GPU) @ b.to(GPU), a @ b, rtol=1e-4, atol=1e-4)
    close_on_gpu(torch.bmm(a[0].to(GPU), b.to(GPU)), torch.bmm(a[0], b), rtol=1e-4, atol=1e-4)
    v, w = torch.randn(4), torch.randn(4)
    close_on_gpu(a.to(GPU) @ v.to(GPU), a @ v, rtol=1e-4, atol=1e-4)
    close_on_gpu(torch.dot(v.to(GPU), w.to(GPU)), torch.dot(v, w), rtol=1e-4, atol=1e-4)
    x, wt, bias = torch.randn(6, 4), torch.randn(3, 4), torch.randn(3)
    close_on_gpu(F.linear(x.to(GPU), wt.to(GPU), bias.to(GPU)), F.linear(x, wt, bias), rtol=1e-4, atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(dim):
    x = torch.randn(4, 300) * 5
    for f in (F.softmax, F.log_softmax):
        close_on_gpu(f(x.to(GPU), dim=dim), f(x, dim=dim), rtol=1e-4, atol=1e-5)
        close_on_gpu(f(x.t().to(GPU).t(), dim=dim), f(x, dim=dim), rtol=1e-4, atol=1e-5)


@needs_gpu
@pytest.mark.parametrize("case", ["mlp", "broadcast", "softmax", "pow_max", "where_amax", "slice"])
def test_gradients_match_cpu(case):
    fns = {
        "mlp": lambda x, w, b: F.log_softmax(torch.tanh(x @ w + b).relu(), dim=1).mean(),
        "broadcast": lambda x, w, b: ((x * b[:4] - w.t()[:4]) / (b[:4].abs() + 1)).exp().sum(),
        "softmax": lambda x, w, b: (F.softmax(x, dim=0) * x).sum() + torch.sigmoid(w).mean() + F.log_softmax(b, 0)[0],
        "pow_max": lambda x, w, b: (x.abs() + 0.5).pow(w[:, :4].t().abs() + 0.5).sum() + torch.maximum(x, x.t().t() * 0.5).sum() + (b * b).sum(),
        "where_amax": lambda x, w, b: torch.where(x > 0, x, x * 0.1).amax(1).sum() + w.var() + torch.where(b > 0, b, -b).sum(),
        "slice": lambda x, w, b: (x[1:, ::2] * 2).sum() + (w[0].abs() + 1).sqrt().sum() + b.square().sum(),
    }
    x, w, b = torch.randn(4, 4), torch.randn(4, 5), torch.randn(5)
    fn = fns[case]
    oc, gc = output_and_grads(fn, x, w, b, device="cpu")
    og, gg = output_and_grads(fn, x, w, b, device=GPU)
    np.testing.assert_allclose(np_of(og), np_of(oc), rtol=1e-4, atol=1e-5)
    for a, c in zip(gg, gc):
        np.testing.assert_allclose(np_of(a), np_of(c), rtol=1e-4, atol=1e-5)


@needs_gpu
def test_transfers_both_ways_with_autograd():
    x = torch.randn(3, 4, requires_grad=True)
    g = x.to("gpu")
    assert g.device == torch.device("gpu:0") and g.is_cuda and not g.is_cpu
    assert g.grad_fn is not None
    back = g.cpu()
    assert back.device.type == "cpu"
    np.testing.assert_array_equal(back.detach().numpy(), x.detach().numpy())
    (g * 2).sum().backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 2.0))
    for dt in (torch.float32, torch.float64, torch.int64, torch.bool):
        t = (torch.arange(12) % 3).to(dt).view(3, 4)
        assert torch.equal(t.t().to("cuda").cpu(), t.t())
    assert torch.equal(torch.ones(2, 3, device="cuda").cpu(), torch.ones(2, 3))
    z = torch.zeros(2, 2, device=torch.device("gpu", 0), requires_grad=True)
    assert z.is_leaf and z.requires_grad and z.device.type == "gpu"
    assert torch.zeros_like(z).device.type == "gpu"
    assert str(torch.device("cuda:0")) == "gpu:0"


@needs_gpu
def test_reads_copy_back():
    g = torch.arange(6.0).view(2, 3).to("gpu")
    assert g.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert g.sum().item() == 15.0
    assert "device='gpu:0'" in repr(g)
    with pytest.raises(TypeError, match="can't convert gpu:0 device type tensor to numpy. Use Tensor.cpu()"):
        g.numpy()


@needs_gpu
def test_mixed_device_errors():
    a = torch.randn(3).to("gpu")
    b = torch.randn(3)
    msg = "Expected all tensors to be on the same device, but found at least two devices, cpu and gpu:0!"
    for f in (lambda: a + b, lambda: b * a, lambda: torch.maximum(a, b), lambda: a @ b,
              lambda: torch.where(a > 0, a, b)):
        with pytest.raises(RuntimeError, match=msg):
            f()
    # 0-d CPU tensors mix like Python scalars, as in PyTorch
    close_on_gpu(a * torch.tensor(2.0), a.cpu() * 2)


@needs_gpu
def test_unsupported_ops_raise_not_implemented():
    with pytest.raises(NotImplementedError, match="'cumsum'.*gpu:0"):
        torch.randn(3).double().to("gpu").cumsum(0)


@needs_gpu
def test_module_to_keeps_parameters():
    lin = torch.nn.Linear(4, 3)
    w = lin.weight
    lin.to("gpu")
    assert lin.weight is w and w.device.type == "gpu"
    x = torch.randn(5, 4)
    out = lin(x.to("gpu"))
    out.sum().backward()
    assert w.grad.device.type == "gpu"
    lin.cpu()
    assert w.device.type == "cpu"


@needs_gpu
def test_inplace_and_no_grad_update():
    w = torch.randn(3, 3).to("gpu").requires_grad_(True)
    (w * w).sum().backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        w.grad.zero_()
    assert w.grad.abs().sum().item() == 0
    v = torch.zeros(4, 4).to("gpu")
    v[1:3, ::2] = 1.0
    ref = torch.zeros(4, 4)
    ref[1:3, ::2] = 1.0
    assert torch.equal(v.cpu(), ref)


@needs_gpu
def test_large_elementwise_splits_dispatch():
    # More than 65535 workgroups of 256: the launch is split over a second dimension.
    n = 65535 * 256 + 1000
    x = torch.ones(n)
    g = x.to("gpu") * 3 + 1
    assert g.sum().item() == 4.0 * n
    got = g.cpu()
    assert got[-1].item() == 4.0 and got[0].item() == 4.0


@needs_gpu
def test_synchronize_and_name():
    torch.gpu.synchronize()
    torch.cuda.synchronize()
    assert torch.cuda.is_available() and torch.cuda.device_count() == 1
    assert isinstance(torch.gpu.get_device_name(), str) and torch.gpu.get_device_name()


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, alpha=0.3, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
]


@needs_gpu
@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIMIZERS)])
def test_optimizer_steps_match_cpu(name, kw):
    torch.manual_seed(0)
    shapes = [(7, 5), (5,), (3, 4, 2), (1,)]
    init = [torch.randn(*s) for s in shapes]
    targets = [torch.randn(*s) for s in shapes]

    def run(device):
        ps = [t.clone().to(device).requires_grad_(True) for t in init]
        opt = getattr(torch.optim, name)(ps, **kw)
        tg = [t.to(device) for t in targets]
        for _ in range(5):
            opt.zero_grad()
            loss = sum(((p - t) ** 2 * (p + 1.5)).sum() for p, t in zip(ps, tg))
            loss.backward()
            opt.step()
        return ps, opt

    gp, gopt = run(GPU)
    cp, copt = run("cpu")
    for g, c in zip(gp, cp):
        assert g.device.type == "gpu" and g.grad.device.type == "gpu"
        np.testing.assert_allclose(np_of(g), np_of(c), rtol=1e-4, atol=1e-5)
    for g, c in zip(gp, cp):
        for key, v in copt.state[c].items():
            gv = gopt.state[g][key]
            if key == "step":
                assert gv.device.type == "cpu" and gv.item() == v.item() == 5
            else:
                assert gv.device.type == "gpu", key
                np.testing.assert_allclose(np_of(gv), np_of(v), rtol=1e-4, atol=1e-5, err_msg=key)


@needs_gpu
def test_optimizer_gpu_param_groups_and_views():
    # a strided (non-contiguous) parameter goes through the contiguous stand-in and is written back
    base = torch.randn(4, 6)
    gpu_w = base.clone().to(GPU).requires_grad_(True)
    cpu_w = base.clone().requires_grad_(True)
    for w in (gpu_w, cpu_w):
        opt = torch.optim.SGD([{"params": [w], "lr": 0.1, "momentum": 0.9}])
        for _ in range(3):
            opt.zero_grad()
            (w.t() ** 2).sum().backward()
            opt.step()
    np.testing.assert_allclose(np_of(gpu_w), np_of(cpu_w), rtol=1e-5, atol=1e-6)
    # mixed devices in one group raise PyTorch's error
    a = torch.randn(3).to(GPU).requires_grad_(True)
    b = torch.randn(3).requires_grad_(True)
    opt = torch.optim.Adam([a, b])
    (a.sum() + b.sum().to(GPU)).backward()
    with pytest.raises(RuntimeError, match="same device"):
        opt.step()


@needs_gpu
def test_int64_casts_comparisons_where_exact():
    vals = [0, 1, -1, 3, 2**24 + 1, 2**24 + 3, 2**31, -2**31 - 1, 2**40 + 2**16 + 1, -(2**53) - 1,
            2**62 + 2**38 + 1, 2**63 - 1, -2**63, 12345678912345]
    rng = np.random.default_rng(0)
    vals += [int(v) for v in rng.integers(-2**63, 2**63 - 1, size=200, dtype=np.int64)]
    t = torch.tensor(vals)
    g = t.to(GPU)
    assert g.dtype == torch.int64 and g.cpu().tolist() == vals
    # int64 -> float32 rounds once (as numpy and C casts do)
    assert g.float().cpu().tolist() == np.array(vals, dtype=np.int64).astype(np.float32).tolist()
    assert g.to(torch.bool).cpu().tolist() == t.to(torch.bool).tolist()
    x = torch.tensor([1.5, -2.7, 3e10, -3e10, float("nan"), 1e30, -1e30, 0.0, -0.5, 2.0**62])
    assert x.to(GPU).long().cpu().tolist() == x.long().tolist()
    assert (x > 0).to(GPU).long().cpu().tolist() == (x > 0).long().tolist()
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        for other in (2**40, -1, 0):
            assert getattr(torch, op)(g, other).cpu().tolist() == getattr(torch, op)(t, other).tolist(), (op, other)
        r = t.flip(0)
        assert getattr(torch, op)(g, r.to(GPU)).cpu().tolist() == getattr(torch, op)(t, r).tolist(), op
    h = t[::3]
    assert torch.where(g[::3] > 0, g[::3], -7).cpu().tolist() == torch.where(h > 0, h, -7).tolist()
    assert g.view(-1, 2).t().contiguous().cpu().tolist() == t.view(-1, 2).t().contiguous().tolist()
    m = g > 0
    assert m.any().item() is True and m.all().item() is False
    assert m.sum().item() == (t > 0).sum().item() and m.sum().dtype == torch.int64
    assert (g // 3).cpu().tolist() == (t // 3).tolist()


@needs_gpu
def test_gather_index_select_index_add_scatter_add_with_grads():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    # (indices are non-negative: gather/index_select refuse negative ones, as PyTorch does)
    idx = torch.tensor([[0, 5, 5], [1, 1, 2], [5, 3, 0], [2, 2, 2]])
    sel = torch.tensor([3, 0, 3, 4])
    src = torch.randn(4, 3)

    def run(dev):
        xx = x.to(dev).requires_grad_(True)
        ss = src.to(dev).requires_grad_(True)
        i, s = idx.to(dev), sel.to(dev)
        outs = [torch.gather(xx, 1, i), xx.index_select(1, s), xx.t().index_select(0, s),
                torch.zeros(4, 6).to(dev).scatter_add(1, i, ss),
                xx.index_add(1, s[:3], ss)]
        total = sum((o * (k + 1) * o).sum() for k, o in enumerate(outs))
        total.backward()
        return outs, xx.grad, ss.grad

    go, gx, gs = run(GPU)
    co, cx, cs = run("cpu")
    for a, b in zip(go, co):
        close_on_gpu(a, b)
    close_on_gpu(gx, cx)
    close_on_gpu(gs, cs)


@needs_gpu
@pytest.mark.parametrize("kw", [{}, dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
                                dict(weight=True), dict(ignore_index=2)])
def test_cross_entropy_nll_forward_backward(kw):
    torch.manual_seed(1)
    x = torch.randn(7, 5)
    y = torch.tensor([0, 4, 2, 1, -100, 3, 2])
    if "weight" in kw:
        kw = dict(weight=torch.rand(5) + 0.1)
    if "ignore_index" in kw:
        y = torch.where(y < 0, 1, y)

    def run(dev):
        xx = x.to(dev).requires_grad_(True)
        k = {a: (v.to(dev) if isinstance(v, torch.Tensor) else v) for a, v in kw.items()}
        loss = F.cross_entropy(xx, y.to(dev), **k)
        nll = F.nll_loss(F.log_softmax(xx, 1), y.to(dev), **{a: v for a, v in k.items() if a != "label_smoothing"})
        (loss.sum() + 0.5 * nll.sum()).backward()
        return loss, nll, xx.grad

    gl, gn, gg = run(GPU)
    cl, cn, cg = run("cpu")
    close_on_gpu(gl, cl)
    close_on_gpu(gn, cn)
    close_on_gpu(gg, cg)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x.to(GPU), torch.tensor([0, 9, 0, 0, 0, 0, 0]).to(GPU))


@needs_gpu
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_train_mlp_matches_cpu(opt):
    """The seed MLP (Linear-ReLU-Linear) trained a few steps with cross-entropy on int64 labels
    reaches the same loss on the GPU as on the CPU."""
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    state = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3)).state_dict()

    def train(dev):
        model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
        model.load_state_dict(state)
        model.to(dev)
        o = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if opt == "SGD" else \
            torch.optim.Adam(model.parameters(), lr=0.01)
        xd, yd = x.to(dev), y.to(dev)
        losses = []
        for _ in range(8):
            o.zero_grad()
            loss = F.cross_entropy(model(xd), yd)
            loss.backward()
            o.step()
            losses.append(loss.item())
        assert all(p.device.type == dev.split(":")[0] for p in model.parameters())
        return losses, model

    gl, gm = train(GPU)
    cl, cm = train("cpu")
    np.testing.assert_allclose(gl, cl, rtol=1e-4, atol=1e-5)
    assert gl[-1] < gl[0]
    for a, b in zip(gm.parameters(), cm.parameters()):
        np.testing.assert_allclose(np_of(a), np_of(b), rtol=1e-3, atol=1e-5)


@needs_gpu
def test_clamp_cat_pad_with_grads():
    torch.manual_seed(3)
    a = torch.randn(3, 4)
    a[0, 0] = float("nan")
    b = torch.randn(3, 2)
    c = torch.randn(3, 4).t().contiguous().t()  # strided

    def run(dev):
        aa, bb, cc = (t.to(dev).requires_grad_(True) for t in (a, b, c))
        outs = [aa.clamp(-0.5, 0.7), aa.clamp(min=0.1), torch.clamp(aa, max=-0.2), aa.clamp(1.0, -1.0),
                torch.cat([aa, bb, cc], 1), torch.cat([aa, cc.t().t()], 0), torch.cat([aa.t(), bb.t()], 0),
                F.pad(aa, (1, 2)), F.pad(cc, (0, 1, 2, 0), value=3.5), F.pad(aa, (-1, 1, 1, -2))]
        total = sum((torch.where(torch.isnan(o), 0.0, o) * (k + 1)).sum()
                    for k, o in enumerate(outs))
        total.backward()
        return outs, aa.grad, bb.grad, cc.grad

    g = run(GPU)
    r = run("cpu")
    for x, y in zip(g[0], r[0]):
        close_on_gpu(x, y)
    for x, y in zip(g[1:], r[1:]):
        close_on_gpu(x, y)
    # int64 and bool pieces, and mixed devices
    i = torch.arange(6).view(2, 3)
    assert torch.cat([i.to(GPU), i.to(GPU)], 1).cpu().tolist() == torch.cat([i, i], 1).tolist()
    assert F.pad(i.to(GPU), (1, 1), value=-4).cpu().tolist() == F.pad(i, (1, 1), value=-4).tolist()
    m = i > 2
    assert torch.cat([m.to(GPU), m.to(GPU)]).cpu().tolist() == torch.cat([m, m]).tolist()
    with pytest.raises(RuntimeError, match="same device"):
        torch.cat([a.to(GPU), b])


@needs_gpu
def test_argmax_argmin_max_dim_with_grads():
    torch.manual_seed(4)
    x = torch.randn(5, 300, 3)
    x[1, 7, 0] = float("nan")
    x[1, 100, 0] = float("nan")
    x[2, :, 1] = 1.0  # ties: the first index wins
    g = x.to(GPU)
    for dim in (0, 1, 2, -1):
        for m in ("argmax", "argmin"):
            got = getattr(g, m)(dim)
            assert got.dtype == torch.int64 and got.cpu().tolist() == getattr(x, m)(dim).tolist(), (m, dim)
    assert g.argmax().item() == x.argmax().item() and g.argmin(keepdim=True).shape == x.argmin(keepdim=True).shape
    y = torch.randn(4, 6)

    def run(dev):
        yy = y.to(dev).requires_grad_(True)
        v1, i1 = yy.max(1)
        v0, i0 = yy.min(0, keepdim=True)
        (v1 * torch.arange(4).float().to(dev)).sum().backward()
        (v0 * 2).sum().backward()
        return v1, i1, v0, i0, yy.grad

    for a, b in zip(run(GPU), run("cpu")):
        if a.dtype == torch.int64:
            assert a.cpu().tolist() == b.tolist()
        else:
            close_on_gpu(a, b)


@needs_gpu
def test_int64_arithmetic_exact_and_its_users():
    rng = np.random.default_rng(1)
    a = [int(v) for v in rng.integers(-2**63, 2**63 - 1, 300, dtype=np.int64)] + [2**32 - 1, -1, 0, 2**31, 123456789]
    b = [int(v) for v in rng.integers(-2**40, 2**40, 300, dtype=np.int64)] + [1, -1, 5, 2**33 + 7, -987654321]
    ta, tb = torch.tensor(a), torch.tensor(b)
    ga, gb = ta.to(GPU), tb.to(GPU)
    for op, ref in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("maximum", np.maximum),
                    ("minimum", np.minimum)):
        got = getattr(torch, op)(ga, gb)
        assert got.dtype == torch.int64
        # wrapping 64-bit arithmetic, as numpy's (and the CPU's)
        assert got.cpu().tolist() == ref(np.array(a), np.array(b)).tolist(), op
    assert (ga[:5] * 3 - 7).cpu().tolist() == (ta[:5] * 3 - 7).tolist()
    assert (ga[:5] + (ga[:5] > 0)).cpu().tolist() == (ta[:5] + (ta[:5] > 0)).tolist()
    # integer indexing (negative indices wrap with int64 arithmetic) and BatchNorm's counter
    g = torch.randn(4, 6).to(GPU)
    i = torch.tensor([0, 2, -1, 1])
    close_on_gpu(g[i.to(GPU)], g.cpu()[i])
    bn = torch.nn.BatchNorm1d(6).to(GPU)
    bn(g)
    bn(g)
    assert bn.num_batches_tracked.item() == 2 and bn.num_batches_tracked.device.type == "gpu"


@needs_gpu
def test_dropout_tril_clip_grad_norm_on_gpu():
    torch.manual_seed(5)
    x = torch.randn(8, 9)
    g = x.to(GPU)
    torch.manual_seed(7)
    d = F.dropout(g, 0.4, True)
    torch.manual_seed(7)
    close_on_gpu(d, F.dropout(x, 0.4, True))
    assert F.dropout2d(torch.randn(2, 3, 4, 4).to(GPU), 0.5, True).device.type == "gpu"
    for k in (-1, 0, 2):
        close_on_gpu(torch.tril(g, k), torch.tril(x, k))
        close_on_gpu(torch.triu(g, k), torch.triu(x, k))

    def run(dev):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(9, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
        m.to(dev)
        (m(x.to(dev)) ** 2).sum().backward()
        n = torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        return n, [p.grad for p in m.parameters()]

    gn, gg = run(GPU)
    cn, cg = run("cpu")
    np.testing.assert_allclose(gn.item(), cn.item(), rtol=1e-5)
    for a, b in zip(gg, cg):
        close_on_gpu(a, b)


@needs_gpu
def test_one_hot_on_gpu():
    y = torch.tensor([[0, 3], [2, 1]])
    for n in (-1, 5):
        got = F.one_hot(y.to(GPU), n)
        assert got.device.type == "gpu" and got.dtype == torch.int64
        assert got.cpu().tolist() == F.one_hot(y, n).tolist()
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(y.to(GPU), 3)


@needs_gpu
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding=2, dilation=2),
                                dict(stride=(2, 1), padding=(0, 1), groups=3, bias=False)])
def test_conv2d_and_im2col_users_with_grads(kw):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 8)
    conv = torch.nn.Conv2d(3, 6, 3, **kw)

    def run(dev):
        m = torch.nn.Conv2d(3, 6, 3, **kw)
        m.load_state_dict(conv.state_dict())
        m.to(dev)
        xx = x.to(dev).requires_grad_(True)
        outs = [m(xx), F.avg_pool2d(xx, 2), F.unfold(xx, 3, padding=1), F.fold(F.unfold(xx, 2), (9, 8), 2)]
        sum((o * o).sum() for o in outs).backward()
        return outs + [xx.grad, m.weight.grad]

    for a, b in zip(run(GPU), run("cpu")):
        close_on_gpu(a, b, rtol=1e-4, atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=1, dilation=2), dict(kernel_size=3, stride=2, ceil_mode=True)])
def test_max_pool2d_with_indices_and_grads(kw):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 9, 8)
    x[0, 1, 2, 3] = float("nan")
    x[1, 0, :4, :4] = 1.0  # ties: the first maximum gets the gradient

    def run(dev):
        xx = x.to(dev).requires_grad_(True)
        v, i = F.max_pool2d(xx, return_indices=True, **kw)
        torch.where(torch.isnan(v), 0.0, v * v).sum().backward()
        return v, i, xx.grad

    (gv, gi, gg), (cv, ci, cg) = run(GPU), run("cpu")
    close_on_gpu(gv, cv)
    assert gi.dtype == torch.int64 and gi.cpu().tolist() == ci.tolist()
    close_on_gpu(gg, cg)


@needs_gpu
@pytest.mark.parametrize("op", ["neg", "abs", "square", "relu", "sign", "floor", "round", "bitwise_not"])
def test_integer_unary_ops_match_cpu(op):
    x = torch.tensor([-3, 0, 5, -(2 ** 40), 2 ** 33 + 7])
    f = getattr(torch, op)
    g = f(x.to(GPU))
    assert g.device.type == "gpu" and g.dtype == torch.int64
    assert g.cpu().tolist() == f(x).tolist()
    b = torch.tensor([True, False, True])
    if op in ("neg", "bitwise_not", "abs", "relu", "floor", "ceil", "round", "trunc"):
        # neg refuses bool, as do abs, relu and the roundings (NotImplementedError in PyTorch
        # 2.15); bitwise_not of bool is logical_not; on both devices.
        if op != "bitwise_not":
            with pytest.raises(RuntimeError, match="bool|Bool"):
                f(b.to(GPU))
    else:
        assert f(b.to(GPU)).cpu().tolist() == f(b).tolist() and f(b.to(GPU)).dtype == f(b).dtype


@needs_gpu
def test_out_of_range_indices_raise_at_the_next_read():
    x = torch.randn(3, 4).to(GPU)
    bad = torch.tensor([[0, 7]]).to(GPU)
    y = x.gather(1, bad)  # queued; the kernel flags the index, as a CUDA device-side assert
    with pytest.raises(RuntimeError, match="index out of range in a GPU gather"):
        y.cpu()
    np.testing.assert_array_equal(np_of(x.gather(1, torch.tensor([[3]]).to(GPU))), np_of(x)[:1, 3:])  # flag cleared
    z = torch.zeros(3, 4).to(GPU).scatter_add(1, bad, torch.ones(1, 2).to(GPU))
    with pytest.raises(RuntimeError, match="scatter_add"):
        z.sum().item()
    assert torch.index_select(x, 0, torch.tensor([2, 0]).to(GPU)).shape == (2, 4)
    with pytest.raises(RuntimeError, match="gather / index_select"):
        torch.index_select(x, 0, torch.tensor([5]).to(GPU)).cpu()


@needs_gpu
def test_copy_across_devices_and_nn_init_on_gpu_parameters():
    g = torch.zeros(2, 3).to(GPU)
    g.copy_(torch.arange(6.0).view(2, 3))
    assert g.device.type == "gpu" and g.cpu().tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    c = torch.zeros(3)
    c.copy_(torch.tensor([1.0, 2.0, 3.0]).to(GPU))
    assert c.device.type == "cpu" and c.tolist() == [1.0, 2.0, 3.0]
    init = torch.nn.init
    w = torch.empty(4, 6).to(GPU)
    init.orthogonal_(w)
    np.testing.assert_allclose(np_of(w @ w.t()), np.eye(4), atol=1e-5)
    init.eye_(w)
    assert np_of(w).tolist() == np.eye(4, 6).tolist()
    init.trunc_normal_(w, a=-0.5, b=0.5)
    assert w.device.type == "gpu" and np.abs(np_of(w)).max() <= 0.5
    init.sparse_(w, 0.5)
    assert ((np_of(w) == 0).sum(0) >= 2).all()


@needs_gpu
def test_int64_pow_matches_cpu():
    a = torch.tensor([[2, -3, 7, 1, -1, 0]] * 3)
    e = torch.tensor([[0, 1, 5, 62, 63, 3], [63, 40, 2, -5, -3, 0], [1, 2, 3, -2, -7, 1]])
    for x, y in ((a, e[:1]), (a[:, :3], 3), (3, e[:1, :3]), (a[1:2, 3:5], e[1:2, 3:5])):
        want = x ** y
        got = (x.to(GPU) if isinstance(x, torch.Tensor) else x) ** (y.to(GPU) if isinstance(y, torch.Tensor) else y)
        assert got.device.type == "gpu" and got.dtype == want.dtype and got.cpu().tolist() == want.tolist()
    # A tensor of exponents computes 0, 1 or -1 for negative ones; a negative Python-number
    # exponent raises, as in PyTorch.
    assert (a.to(GPU) ** e.to(GPU)).cpu().tolist() == (a ** e).tolist()
    with pytest.raises(RuntimeError, match="negative integer powers"):
        a.to(GPU) ** -2


@needs_gpu
def test_device_repr_names_the_adapter():
    name = torch.gpu.get_device_name()
    assert repr(torch.device("gpu")) == f"device(type='gpu', name='{name}')"
    assert repr(torch.ones(1).to(GPU).device) == f"device(type='gpu', index=0, name='{name}')"
    assert str(torch.device("cuda:0")) == "gpu:0" and repr(torch.device("cpu")) == "device(type='cpu')"
