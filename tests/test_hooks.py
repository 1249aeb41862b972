"""Gradient hooks: Tensor.register_hook, register_post_accumulate_grad_hook and Module's full
backward (pre-)hooks. Expected values are what PyTorch 2.15 gives for the same code."""
import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn as nn


def leaf(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def test_leaf_hook_sees_the_summed_gradient_and_replaces_it():
    x = leaf([1.0, 2.0, 3.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    (x * x + x).sum().backward()
    assert seen == [[3.0, 5.0, 7.0]]  # one call with both paths summed
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 10.0, 14.0])


def test_hooks_chain_in_registration_order_and_remove():
    x = leaf([1.0, 2.0])
    first = x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 10)
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 20.0])
    first.remove()
    first.remove()  # a second remove does nothing, as in torch
    x.grad = None
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 10.0])


def test_handle_is_a_context_manager():
    x = leaf([1.0])
    with x.register_hook(lambda g: g * 0):
        x.sum().backward()
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_non_leaf_hook_changes_what_flows_on_and_the_retained_grad():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g + 1)
    y.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0, 6.0])


def test_leaf_hook_runs_for_autograd_grad_without_touching_grad():
    x = leaf([1.0, 2.0, 3.0])
    x.register_hook(lambda g: g * 2)
    (g,) = torch.autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(g.numpy(), [4.0, 8.0, 12.0])
    assert x.grad is None


def test_hook_returning_none_keeps_the_gradient():
    x = leaf([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(1))
    (x * 5).sum().backward()
    assert calls == [1]
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_hook_errors():
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        torch.ones(2).register_hook(lambda g: g)
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    z = leaf([1.0, 2.0])
    z.register_hook(lambda g: torch.ones(3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"hook has changed the size of value: expected \[2\], got \[3\]"):
        z.sum().backward()
    w = leaf([1.0, 2.0])
    w.register_hook(lambda g: "not a tensor")
    with pytest.raises(TypeError, match="must return a Tensor or None"):
        w.sum().backward()


class HookFailure(Exception):
    pass


def test_exception_in_a_hook_propagates_with_its_type():
    z = leaf([1.0, 2.0])

    def bad(g):
        raise HookFailure("boom")

    z.register_hook(bad)
    with pytest.raises(HookFailure, match="boom"):
        z.sum().backward()
    y = leaf([1.0])
    y.register_post_accumulate_grad_hook(lambda t: {}["missing"])
    with pytest.raises(KeyError, match="missing"):
        (y * 2).sum().backward()


def test_post_accumulate_hook_sees_the_parameter_with_its_grad():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    names = {id(p): n for n, p in net.named_parameters()}
    seen = []
    for p in net.parameters():
        p.register_post_accumulate_grad_hook(lambda t: seen.append((names[id(t)], t.grad.shape)))
    net(torch.ones(5, 3)).sum().backward()
    assert sorted(seen) == sorted((n, p.shape) for n, p in net.named_parameters())
    # Gradients are ready output layer first: the order DDP's buckets go out in.
    order = [n for n, _ in seen]
    assert max(order.index("2.weight"), order.index("2.bias")) < min(order.index("0.weight"), order.index("0.bias"))


def test_post_accumulate_hook_runs_after_accumulation_each_backward():
    x = leaf([1.0, 2.0])
    grads = []
    handle = x.register_post_accumulate_grad_hook(lambda t: grads.append(t.grad.tolist()))
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert grads == [[2.0, 2.0], [5.0, 5.0]]
    handle.remove()
    (x * 3).sum().backward()
    assert len(grads) == 2


def test_hooks_survive_assigning_data():
    p = nn.Parameter(torch.ones(2, dtype=torch.float64))
    p.register_hook(lambda g: g * 3)
    p.data = torch.zeros(2, dtype=torch.float64)
    (p + 1).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [3.0, 3.0])


def test_full_backward_hooks_of_a_linear():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    seen = []
    lin.register_full_backward_pre_hook(lambda m, go: seen.append(("pre", [tuple(g.shape) for g in go])))
    lin.register_full_backward_hook(
        lambda m, gi, go: seen.append(("full", [None if g is None else tuple(g.shape) for g in gi],
                                       [tuple(g.shape) for g in go])))
    x = torch.ones(5, 3, dtype=torch.float64)
    lin(x).sum().backward()
    assert seen == [("pre", [(5, 2)]), ("full", [None], [(5, 2)])]
    seen.clear()
    lin(x.requires_grad_()).sum().backward()
    assert seen == [("pre", [(5, 2)]), ("full", [(5, 3)], [(5, 2)])]


def test_full_backward_hooks_replace_gradients():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    handle = lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
    lin(torch.ones(1, 3, dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), np.zeros((2, 3)))
    handle.remove()
    x = torch.ones(1, 3, dtype=torch.float64, requires_grad=True)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[0], lin.weight.detach().numpy().sum(0) * 10)


def test_full_backward_hook_on_a_container_sees_its_input_and_output():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).double()
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    got = {}
    net.register_full_backward_hook(lambda m, gi, go: got.update(gi=gi[0].numpy().copy(), go=go[0].numpy().copy()))
    (net(x) * 2).sum().backward()
    np.testing.assert_allclose(got["go"], np.full((2, 3), 2.0))
    np.testing.assert_allclose(got["gi"], x.grad.numpy())


def _assert_same(ours, theirs, where="results"):
    """Nested lists, dicts, names and None equal; numbers within float64 rounding."""
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            _assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, list) and theirs and all(isinstance(v, (int, float)) for v in theirs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=where)
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{where}: {ours} vs {theirs}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, f"{where}: {ours!r} vs PyTorch's {theirs!r}"


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_full_backward_hooks_with_several_inputs_and_outputs_match_pytorch():
    """Hooks replacing any of several grad_outputs / grad_inputs, None for unused outputs, zeros
    for inputs without a gradient, hook order, nested modules: as PyTorch 2.15 (recorded)."""
    import json

    import backward_hook_cases
    with open(backward_hook_cases.FIXTURE) as f:
        recorded = json.load(f)["results"]
    _assert_same(backward_hook_cases.run(torch), recorded)


def test_full_backward_hook_errors_name_the_counts_and_shapes():
    class Two(nn.Module):
        def forward(self, a, b):
            return a * b, a + b

    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    m = Two()
    handle = m.register_full_backward_pre_hook(lambda mod, go: (go[0],))
    with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of grad_output, got 1, "
                                           "but expected 2"):
        sum(o.sum() for o in m(a, b)).backward()
    handle.remove()
    handle = m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[1], None))
    with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of grad_input, got 3, "
                                           "but expected 2"):
        sum(o.sum() for o in m(a, b)).backward()
    handle.remove()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], torch.ones(3, dtype=torch.float64)))
    with pytest.raises(RuntimeError, match=r"gradient for tensor 1 of shape \[3\].*but the tensor is \[2\]"):
        sum(o.sum() for o in m(a, b)).backward()
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda mod, gi, go: (torch.ones(1),))
    with pytest.raises(RuntimeError, match="no input requires gradient should always return None"):
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            lin(torch.ones(1, 2)).sum().backward()


def test_backward_with_inputs_runs_hooks_and_accumulates_as_pytorch():
    """backward(inputs=...) accumulates only into the inputs, leaf and non-leaf, running a leaf's
    hooks and then its post-accumulate hooks (values from PyTorch 2.15)."""
    x, w = leaf([1.0, 1.0]), leaf([2.0, 2.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    w.register_post_accumulate_grad_hook(lambda t: seen.append("w"))
    x.register_hook(lambda g: g * 10)
    y = x * 3
    z = (y * y * w).sum()
    z.backward(inputs=[x, y], retain_graph=True)
    assert seen == [[360.0, 360.0]] and w.grad is None
    np.testing.assert_array_equal(y.grad.numpy(), [12.0, 12.0])
    z.backward(inputs=[x])
    assert seen == [[360.0, 360.0], [720.0, 720.0]]
    with pytest.raises(RuntimeError, match="`inputs` argument to `backward\\(\\)` cannot be empty."):
        (x * 2).sum().backward(inputs=[])
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2).sum().backward(inputs=[torch.ones(2)])
