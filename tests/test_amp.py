"""Mixed precision: `autocast` (PyTorch's op lists) and `amp.GradScaler` (scale, unscale_, step
skipping on inf/NaN, update), checked against float32 training and a scale schedule worked out
by hand."""
import threading

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_lists(dtype):
    x, w = torch.randn(4, 8), torch.randn(8, 8)
    conv_x, conv_w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    with torch.autocast("cpu", dtype=dtype):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") is dtype
        # Lower precision: matmul, linear, conv (also through the @ operator and methods).
        assert (x @ w).dtype is dtype and torch.matmul(x, w).dtype is dtype and x.mm(w).dtype is dtype
        assert F.linear(x, w).dtype is dtype and F.conv2d(conv_x, conv_w).dtype is dtype
        low = x.to(dtype)
        # float32: softmax, norms, losses, reductions.
        assert F.softmax(low, 1).dtype is torch.float32 and low.log_softmax(1).dtype is torch.float32
        assert F.layer_norm(low, (8,)).dtype is torch.float32 and low.sum().dtype is torch.float32
        assert F.mse_loss(low, low).dtype is torch.float32
        assert F.cross_entropy(low, torch.tensor([0, 1, 2, 3])).dtype is torch.float32
        # Other ops keep their inputs' dtypes; float64 and integers are never autocast.
        assert (low + 1).dtype is dtype and low.relu().dtype is dtype
        assert (x.double() @ w.double()).dtype is torch.float64
        with torch.autocast("cpu", enabled=False):
            assert (x @ w).dtype is torch.float32 and not torch.is_autocast_enabled("cpu")
        assert (x @ w).dtype is dtype
    assert not torch.is_autocast_enabled("cpu") and (x @ w).dtype is torch.float32
    # Outside any region the originals are back (no wrapper on the eager path).
    assert type(torch.Tensor.__matmul__).__name__ == "wrapper_descriptor"
    assert F.linear.__module__ == "ferrograd.nn.functional" and not hasattr(F.linear, "__wrapped__")


def test_autocast_values_are_the_rounded_computation():
    x, w = torch.randn(6, 32), torch.randn(32, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = x @ w
    want = x.bfloat16() @ w.bfloat16()
    assert torch.equal(got, want)


def test_autocast_gradients_reach_float32_leaves():
    model = _mlp()
    x, y = torch.randn(10, 8), torch.randint(0, 3, (10,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    ref = _mlp()
    F.cross_entropy(ref(x), y).backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert p.grad.dtype is torch.float32
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0.1, atol=0.02)


def test_autocast_is_thread_local_and_a_decorator():
    x = torch.randn(3, 3)
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other_thread():
        inside.wait()
        seen["other"] = (x @ x).dtype
        done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with torch.autocast("cpu"):
        inside.set()
        done.wait()
        seen["here"] = (x @ x).dtype
    t.join()
    assert seen == {"other": torch.float32, "here": torch.bfloat16}

    @torch.autocast("cpu", dtype=torch.float16)
    def f(a):
        return a @ a
    assert f(x).dtype is torch.float16 and (x @ x).dtype is torch.float32


def test_autocast_bad_arguments():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        torch.autocast("tpu")
    with pytest.raises(RuntimeError, match="supported dtypes"):
        torch.autocast("cpu", dtype=torch.float64)
    with pytest.raises(RuntimeError, match="gpu autocast"):
        torch.autocast("cuda", dtype=torch.int32)


def test_autocast_on_the_gpu():
    if not torch.gpu.is_available():
        pytest.skip("no GPU adapter")
    x, w = torch.randn(4, 8, device="gpu"), torch.randn(8, 8, device="gpu")
    with torch.autocast("cuda"):
        assert torch.get_autocast_dtype("cuda") is torch.float16 and torch.is_autocast_enabled("gpu")
        out = x @ w
        assert out.dtype is torch.float16 and out.device == x.device
        assert F.softmax(out, 1).dtype is torch.float32
        # The CPU's region is a separate one.
        assert not torch.is_autocast_enabled("cpu") and (x.cpu() @ w.cpu()).dtype is torch.float32
    np.testing.assert_array_equal(out.cpu().numpy(), (x.half() @ w.half()).cpu().numpy())


def _train(steps, use_amp):
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=use_amp)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 8)).astype(np.float32)
    x, y = torch.tensor(features), torch.tensor((features[:, 0] + features[:, 1] > 0).astype(np.int64))
    for _ in range(steps):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16, enabled=use_amp):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return loss.item()


def test_mixed_precision_training_tracks_float32():
    full, mixed = _train(100, False), _train(100, True)
    assert mixed < 0.3 and abs(full - mixed) < 0.01


def test_grad_scaler_scales_unscales_and_skips_non_finite_steps():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2)
    x = torch.randn(4, 8)
    loss = model(x).sum()
    scaled = scaler.scale(loss)
    assert scaled.item() == pytest.approx(loss.item() * 1024, rel=1e-6)
    scaled.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    scaler.unscale_(opt)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad.numpy(), g.numpy() / 1024, rtol=1e-6)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    before = [p.detach().clone() for p in model.parameters()]
    scaler.step(opt)
    assert not torch.equal(before[0], model[0].weight.detach())
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0  # one good step of growth_interval=2
    # An inf gradient: the step is skipped and the scale backs off.
    opt.zero_grad()
    scaler.scale(model(x).sum()).backward()
    model[0].weight.grad[0, 0] = float("inf")
    before = [p.detach().clone() for p in model.parameters()]
    assert scaler.step(opt) is None
    assert all(torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
    scaler.update()
    assert scaler.get_scale() == 512.0
    # Two good steps in a row double it.
    for _ in range(2):
        opt.zero_grad()
        scaler.scale(model(x).sum()).backward()
        scaler.step(opt)
        scaler.update()
    assert scaler.get_scale() == 1024.0
    state = scaler.state_dict()
    assert state == {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2, "_growth_tracker": 0}
    other = torch.amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.get_scale() == 1024.0 and other.get_growth_interval() == 2
    scaler.update(new_scale=8.0)
    assert scaler.get_scale() == 8.0


def test_grad_scaler_errors_and_disabled():
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    with pytest.raises(AssertionError, match="_scale is None"):
        scaler.step(opt)
    with pytest.raises(ValueError, match="growth factor"):
        torch.amp.GradScaler(growth_factor=0.5)
    half = torch.nn.Linear(2, 2).half()
    hopt = torch.optim.SGD(half.parameters(), lr=0.1)
    scaler.scale(half(torch.randn(1, 2).half()).sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(hopt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: 0.0)
    off = torch.amp.GradScaler("cpu", enabled=False)
    loss = model(torch.randn(2, 8)).sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        torch.amp.GradScaler("cpu").load_state_dict({})
