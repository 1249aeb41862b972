"""Graph capture (`ferrograd.compile`, `ferrograd.jit.trace`): replays equal eager runs on new
inputs, each guard retraces, graph breaks warn or raise, the passes remove what they should."""
import warnings

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn as nn
import ferrograd.nn.functional as F
from helpers import GPU, needs_gpu

DEVICES = ["cpu", pytest.param(GPU, marks=needs_gpu)]


def chain(x, y):
    return ((x * 2 + 1).relu() * y).exp().sum(1)


@pytest.mark.parametrize("device", DEVICES)
def test_replay_matches_eager_on_new_inputs(device):
    compiled = torch.compile(chain)
    y = torch.randn(4, 3).to(device)
    for _ in range(3):
        x = torch.randn(4, 3).to(device)
        got, want = compiled(x, y), chain(x, y)
        assert got.device.type == want.device.type
        np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(), rtol=1e-6)
    assert len(compiled.graphs) == 1
    assert compiled.graph.kernel_count > 0


def _mlp_with_dropout(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))


def _sgd_step(model, x, t):
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), t)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    return loss.detach()


def test_compiled_training_step_matches_eager_over_20_steps():
    compiled_model, eager_model = _mlp_with_dropout(1), _mlp_with_dropout(1)
    step = torch.compile(_sgd_step)
    t = torch.tensor([0, 1, 1, 0, 1])
    for i in range(20):
        x = torch.randn(5, 3)
        torch.manual_seed(100 + i)
        got = step(compiled_model, x, t)
        torch.manual_seed(100 + i)
        want = _sgd_step(eager_model, x, t)
        assert got.item() == want.item()
    for p, q in zip(compiled_model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert len(step.graphs) == 1


def test_grads_are_set_by_the_replay():
    w = torch.randn(3, requires_grad=True)

    def f(x):
        w.grad = None
        (w * x).sum().backward()

    cf = torch.compile(f)
    for _ in range(3):
        x = torch.randn(3)
        cf(x)
        np.testing.assert_allclose(w.grad.numpy(), x.numpy())


def test_shape_change_retraces_and_cache_limit_falls_back_with_one_warning():
    compiled = torch.compile(lambda x: x.exp())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 12):
            x = torch.randn(n)
            np.testing.assert_allclose(compiled(x).numpy(), np.exp(x.numpy()), rtol=1e-6)
    assert len(compiled.graphs) == torch._compile.CACHE_SIZE_LIMIT
    msgs = [str(w.message) for w in caught if "cache_size_limit" in str(w.message)]
    assert len(msgs) == 1 and "tensor argument 0: shape [" in msgs[0]


@pytest.mark.parametrize("change", ["dtype", "requires_grad", "grad_mode"])
def test_guards_retrace(change):
    calls = []

    def f(x):
        calls.append(1)
        return (x * 3).detach()

    compiled = torch.compile(f)
    x = torch.randn(4)
    compiled(x)
    compiled(x)
    assert len(calls) == 1
    if change == "dtype":
        out = compiled(x.double())
        assert out.dtype == torch.float64
    elif change == "requires_grad":
        out = compiled(x.clone().requires_grad_(True))
    else:
        with torch.no_grad():
            out = compiled(x)
    assert len(calls) == 2 and len(compiled.graphs) == 2
    np.testing.assert_allclose(out.detach().numpy(), x.numpy() * 3, rtol=1e-6)


@needs_gpu
def test_device_change_retraces():
    compiled = torch.compile(lambda x: x * 2)
    x = torch.randn(5)
    compiled(x)
    out = compiled(x.to(GPU))
    assert out.device.type == "gpu" and len(compiled.graphs) == 2
    np.testing.assert_allclose(out.cpu().numpy(), x.numpy() * 2)


def test_module_train_eval_and_replaced_parameter_retrace():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    compiled = torch.compile(model)
    x = torch.randn(3, 4)
    with torch.no_grad():
        compiled.eval()
        a = compiled(x)
        np.testing.assert_allclose(a.numpy(), model(x).numpy(), rtol=1e-6)
        compiled.train()
        torch.manual_seed(3)
        b = compiled(x)
        torch.manual_seed(3)
        np.testing.assert_allclose(b.numpy(), model(x).numpy(), rtol=1e-6)
        assert len(compiled._compiled_call.graphs) == 2
        model[0].weight = nn.Parameter(torch.zeros(4, 4))
        compiled.eval()
        c = compiled(x)
        np.testing.assert_allclose(c.numpy(), np.broadcast_to(model[0].bias.detach().numpy(), (3, 4)), rtol=1e-6)
        assert len(compiled._compiled_call.graphs) == 3
    assert compiled.state_dict().keys() == model.state_dict().keys()
    assert list(compiled.parameters())[0] is model[0].weight


def test_module_argument_train_eval_retraces():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    compiled = torch.compile(lambda m, x: m(x))
    x = torch.randn(3, 4)
    with torch.no_grad():
        compiled(model, x)
        model.eval()
        np.testing.assert_allclose(compiled(model, x).numpy(), model(x).numpy(), rtol=1e-6)
    assert len(compiled.graphs) == 2


def test_cumprod_backward_is_captured_for_inputs_with_and_without_zeros():
    def grad_of(x):
        x.grad = None
        x.cumprod(1).sum().backward()

    compiled = torch.compile(grad_of)
    for values in ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]]):
        x, y = (torch.tensor(values, requires_grad=True) for _ in range(2))
        compiled(x)
        grad_of(y)
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-6)
    assert len(compiled.graphs) == 1


def test_advanced_indexing_is_captured_and_checks_bounds_on_replay():
    compiled = torch.compile(lambda x, i, j: x[i, :, j] * 2)
    x = torch.randn(4, 5, 6)
    for i, j in (([0, -1, 2], [5, 0, -6]), ([3, 1, 0], [1, 2, 3])):
        i, j = torch.tensor(i), torch.tensor(j)
        np.testing.assert_allclose(compiled(x, i, j).numpy(), x.numpy()[i.numpy(), :, j.numpy()] * 2, rtol=1e-6)
    assert len(compiled.graphs) == 1
    with pytest.raises(IndexError, match="index 6 is out of bounds for dimension 2 with size 6"):
        compiled(x, torch.tensor([0, 1, 2]), torch.tensor([0, 6, 1]))


def test_in_place_update_of_an_input_is_replayed():
    compiled = torch.compile(lambda x: x.add_(1))
    for _ in range(2):
        x = torch.zeros(3)
        compiled(x)
        np.testing.assert_array_equal(x.numpy(), np.ones(3))


def test_view_of_an_input_as_output_shares_memory():
    compiled = torch.compile(lambda x: x[1])
    for _ in range(2):
        x = torch.randn(3, 4)
        out = compiled(x)
        np.testing.assert_array_equal(out.numpy(), x[1].numpy())
        x[1, 0] = 42.0
        assert out[0].item() == 42.0


def test_graph_break_warns_and_runs_eagerly():
    def f(x):
        if x.sum().item() > 0:
            return x * 2
        return x * -1

    compiled = torch.compile(f)
    with pytest.warns(RuntimeWarning, match=r"cannot be captured.*item\(\).*test_compile.py:\d+: if x.sum\(\).item\(\) > 0"):
        compiled(torch.ones(3))
    out = compiled(-torch.ones(3))
    np.testing.assert_array_equal(out.numpy(), np.ones(3))
    assert compiled.graphs == []


def test_graph_break_with_fullgraph_raises_naming_the_line():
    compiled = torch.compile(lambda x: print(x) or x, fullgraph=True)
    with pytest.raises(RuntimeError, match=r"graph break.*test_compile.py:\d+"):
        compiled(torch.ones(2))


def test_output_requiring_grad_without_backward_runs_eagerly():
    w = torch.randn(3, requires_grad=True)
    compiled = torch.compile(lambda x: (w * x).sum())
    with pytest.warns(RuntimeWarning, match="requires grad"):
        out = compiled(torch.ones(3))
    out.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones(3))


def test_passes_remove_dead_and_common_calls():
    def f(x):
        unused = x.sin()  # noqa: F841  (dead)
        return x.exp() + x.exp()

    compiled = torch.compile(f)
    x = torch.randn(5)
    np.testing.assert_allclose(compiled(x).numpy(), 2 * np.exp(x.numpy()), rtol=1e-6)
    dead, merged = compiled.graph.removed
    assert dead == 1 and merged == 1
    assert compiled.graph.fused == (1, 2)
    assert compiled.graph.kernel_count == 1


def test_random_draws_are_fresh_on_each_replay():
    compiled = torch.compile(lambda x: x + torch.rand(4))
    a, b = compiled(torch.zeros(4)), compiled(torch.zeros(4))
    assert not np.array_equal(a.numpy(), b.numpy())
    torch.manual_seed(7)
    c = compiled(torch.zeros(4))
    torch.manual_seed(7)
    np.testing.assert_array_equal(c.numpy(), torch.rand(4).numpy())


def test_jit_trace_prints_one_line_per_node():
    traced = torch.jit.trace(chain, (torch.randn(2, 3), torch.randn(2, 3)))
    text = str(traced.graph)
    lines = [line for line in text.splitlines() if " = " in line]
    assert len(lines) == traced.graph.kernel_count
    assert any(line.startswith("%") and "sum(" in line and "float32[2] cpu" in line for line in lines)
    assert text.splitlines()[-1].startswith("return (")
    assert traced.code.splitlines() == [line for line in lines if "fused[" in line]
    assert "exp(mul(relu(add(mul(" in traced.code
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    np.testing.assert_allclose(traced(x, y).numpy(), chain(x, y).numpy(), rtol=1e-6)


def test_nested_structures_and_constants_pass_through():
    compiled = torch.compile(lambda d, scale: {"out": [d["a"] * scale, d["b"]], "n": 3})
    a, b = torch.randn(2), torch.randn(2)
    out = compiled({"a": a, "b": b}, 2.0)
    assert out["n"] == 3
    np.testing.assert_allclose(out["out"][0].numpy(), a.numpy() * 2)
    out = compiled({"a": a, "b": b}, 3.0)
    np.testing.assert_allclose(out["out"][0].numpy(), a.numpy() * 3)
    assert len(compiled.graphs) == 2


def test_compile_rejects_unknown_mode():
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        torch.compile(lambda x: x, mode="fastest")


class _LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.layer(x).mean(1))


MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)), (8, 6)),
    "cnn": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(4 * 4 * 4, 3)), (8, 1, 8, 8)),
    "lstm": (_LSTMClassifier, (8, 5, 6)),
    "transformer": (_Encoder, (8, 5, 8)),
}
OPTIMIZERS = {
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}


def _train_step(model, opt, loss_fn):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def _training(model_name, optimizer_name):
    make, shape = MODELS[model_name]
    torch.manual_seed(0)
    model = make()
    opt = OPTIMIZERS[optimizer_name](model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, _train_step(model, opt, F.cross_entropy), sched


@pytest.mark.parametrize("optimizer_name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_compiled_training_with_scheduler_matches_eager_over_20_steps(model_name, optimizer_name):
    eager_model, eager_step, eager_sched = _training(model_name, optimizer_name)
    model, step, sched = _training(model_name, optimizer_name)
    compiled = torch.compile(step)
    rng = np.random.default_rng(1)
    shape = MODELS[model_name][1]
    for _ in range(20):
        x = torch.tensor(rng.standard_normal(shape).astype(np.float32))
        y = torch.tensor(rng.integers(0, 3, size=shape[0]))
        got, want = compiled(x, y), eager_step(x, y)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
        sched.step()
        eager_sched.step()
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
    # The first step creates the optimizer's state (traced again); the scheduler's lr changes
    # are graph inputs, so one graph serves the other steps.
    assert len(compiled.graphs) == 1, [str(g)[:200] for g in compiled.graphs]


@needs_gpu
def test_gpu_replay_is_one_submission():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1)).to(GPU)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    compiled = torch.compile(_train_step(model, opt, F.mse_loss))
    x, y = torch.randn(64, 16).to(GPU), torch.randn(64, 1).to(GPU)
    for _ in range(3):
        compiled(x, y)
    torch.gpu.synchronize()
    before = torch._core.gpu_submission_count()
    compiled(x, y)
    assert torch._core.gpu_submission_count() - before == 1
    assert compiled.graph.kernel_count > 10
