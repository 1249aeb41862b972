"""Autograd semantics: accumulation, retain_graph, no_grad, in-place rules, higher order."""
import threading

import numpy as np
import pytest

import ferrograd as torch
from ferrograd.autograd import gradcheck, gradgradcheck
from helpers import assert_close, float_dtype, t64


def test_grad_accumulates_and_zeroes():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert_close(x.grad, [5.0, 7.0])
    x.grad.zero_()
    (x * 1).sum().backward()
    assert_close(x.grad, [1.0, 1.0])
    x.grad = None
    x.sum().backward()
    assert_close(x.grad, [1.0, 1.0])


def test_leaf_and_grad_fn():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    assert x.grad_fn is None and y.grad_fn.name() == "MulBackward0"
    assert "grad_fn=<MulBackward0>" in repr(y)
    assert "requires_grad=True" in repr(x)
    assert torch.ones(2).is_leaf and not torch.ones(2).requires_grad


def test_retain_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.clone()
    y.backward()
    assert_close(x.grad, 2 * g1.cpu().numpy())
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    # A graph that saved no tensors can be traversed again, as in PyTorch.
    z = (x + 1).sum()
    z.backward()
    z.backward()


def test_non_scalar_backward_needs_gradient():
    x = torch.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.backward(torch.tensor([1.0, 0.0, 2.0]))
    assert_close(x.grad, [2.0, 0.0, 4.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(torch.ones(2))


def test_no_grad_enable_grad_set_grad_enabled():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        y = x * 2
        assert not torch.is_grad_enabled()
        with torch.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad and torch.is_grad_enabled()

    @torch.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    with torch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    assert not torch.is_grad_enabled()
    torch.set_grad_enabled(True)


def test_grad_mode_is_thread_local():
    seen = {}

    def worker():
        seen["enabled"] = torch.is_grad_enabled()
        seen["requires"] = (torch.ones(1, requires_grad=True) * 2).requires_grad

    with torch.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
    assert seen == {"enabled": True, "requires": True}


def test_detach_and_retain_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = (y * y).sum()
    d = y.detach()
    assert not d.requires_grad and d._same_storage(y)
    z.backward()
    assert_close(y.grad, [6.0, 12.0])
    assert_close(x.grad, [18.0, 36.0])
    w = x * 1
    w.detach_()
    assert w.is_leaf and not w.requires_grad


def test_autograd_grad_function():
    x = t64([1.0, 2.0], requires_grad=True)
    y = t64([3.0], requires_grad=True)
    out = (x * x * y).sum()
    gx, gy = torch.autograd.grad(out, [x, y])
    assert_close(gx, [6.0, 12.0])
    assert_close(gy, [5.0])
    assert x.grad is None
    z = t64([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        torch.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = torch.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx is not None
    h = x * 2
    (gh,) = torch.autograd.grad((h * h).sum(), h)
    assert_close(gh, [4.0, 8.0])


@pytest.mark.cpu_only("gradgradcheck needs float64")
def test_second_order():
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    assert_close(g, 3 * np.array([1.0, 4.0, 9.0]))
    (h,) = torch.autograd.grad(g.sum(), x)
    assert_close(h, 6 * np.array([1.0, 2.0, 3.0]))
    x2 = t64([0.5, -1.0], requires_grad=True)
    for f in [torch.exp, torch.tanh, torch.sigmoid, torch.sin, lambda t: torch.softmax(t, 0),
              lambda t: torch.log_softmax(t, 0), lambda t: (t * t).sqrt(), lambda t: t.norm()]:
        assert gradgradcheck(lambda t: f(t), [x2])
    w = t64(np.random.default_rng(0).normal(size=(3, 2)), requires_grad=True)
    assert gradgradcheck(lambda a, b: (a @ b).tanh(), [t64(np.ones((2, 3)), True), w])


def test_backward_create_graph_accumulates_graph():
    x = t64([2.0], requires_grad=True)
    y = x ** 3
    y.backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.backward()
    assert_close(x.grad, [12.0])


def test_inplace_on_leaf_requiring_grad_raises():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w -= 1
    with torch.no_grad():
        w -= 0.5 * torch.ones(2)
        w.mul_(2)
    assert_close(w, [1.0, 1.0])
    assert w.is_leaf and w.requires_grad


def test_inplace_version_check():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (y * y).sum().backward()
    a = x * 2
    b = a * a
    a.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()
    assert y._version == 1


def test_inplace_on_non_leaf_rebases_history():
    x = t64([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.mul_(x)
    y.add_(1)
    y.sum().backward()
    assert_close(x.grad, [4.0, 8.0])
    assert y.grad_fn is not None
    buf = torch.zeros(2, dtype=float_dtype())
    buf.add_(x)
    assert buf.requires_grad and not buf.is_leaf


def test_inplace_ops_values():
    t = torch.tensor([1.0, -2.0, 3.0])
    t.add_(1).mul_(2).sub_(torch.tensor([1.0, 1.0, 1.0])).div_(2)
    assert_close(t, [1.5, -1.5, 3.5])
    t.clamp_(-1, 2)
    assert_close(t, [1.5, -1.0, 2.0])
    t.fill_(7)
    assert t.tolist() == [7.0, 7.0, 7.0]
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
    t.copy_(torch.tensor([1, 2, 3]))
    assert t.tolist() == [1.0, 2.0, 3.0] and t.dtype == torch.float32
    t += 1
    t *= 2
    assert t.tolist() == [4.0, 6.0, 8.0]
    v0 = t._version
    t.normal_()
    t.uniform_(2, 3)
    assert t._version == v0 + 2 and ((t >= 2) & (t < 3)).all().item()
    i = torch.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        i.add_(1.5)


@pytest.mark.cpu_only("gradcheck needs float64")
def test_gradcheck_detects_wrong_gradient():
    from ferrograd.autograd import GradcheckError

    def wrong(x):
        # d/dx of x*x.detach() is x, not 2x: autograd is right, but compare against x**2.
        return x * x.detach()
    x = t64([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(wrong, [x])
    assert gradcheck(lambda t: t * t, [x])


def test_deep_graph_does_not_overflow():
    x = torch.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.sum().backward()
    assert_close(x.grad, [1.0])


@pytest.mark.cpu_only("float64 leaves; the GPU computes in float32")
def test_grads_of_mixed_dtypes_match_inputs():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, dtype=torch.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == torch.float32 and b.grad.dtype == torch.float64
    c = torch.ones(3, 1, requires_grad=True)
    (c * torch.ones(3, 4)).sum().backward()
    assert c.grad.shape == (3, 1) and c.grad.tolist() == [[4.0]] * 3


def test_requires_grad_only_for_floats():
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 2], requires_grad=True)
    x = torch.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
