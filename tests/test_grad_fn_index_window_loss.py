"""The index, sliding-window and loss ops record the same autograd node on every device, named
as PyTorch names it (names verified once with PyTorch 2.15), and their backward rules (written
once, device-agnostic) give the CPU's gradients on the GPU."""
import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
from helpers import GPU, close_on_gpu, needs_gpu

DEVICES = ["cpu", pytest.param(GPU, marks=needs_gpu)]

_INDEX = torch.tensor([[0, 1], [2, 0], [1, 1]])
_ROWS = torch.tensor([0, 2])

# (name, PyTorch's grad_fn name, fn of the float leaves, the leaves' shapes)
CASES = [
    ("gather", "GatherBackward0", lambda x: x.gather(1, _INDEX.to(x.device)), [(3, 4)]),
    ("scatter", "ScatterBackward0", lambda x, s: x.scatter(1, _INDEX.to(x.device), s), [(3, 4), (3, 2)]),
    ("scatter_src_larger", "ScatterBackward0", lambda x, s: x.scatter(1, _INDEX.to(x.device), s), [(3, 4), (3, 3)]),
    ("scatter_add", "ScatterAddBackward0", lambda x, s: x.scatter_add(1, _INDEX.to(x.device), s), [(3, 4), (3, 2)]),
    ("index_select", "IndexSelectBackward0", lambda x: x.index_select(0, _ROWS.to(x.device)), [(3, 4)]),
    ("index_add", "IndexAddBackward0", lambda x, s: x.index_add(0, _ROWS.to(x.device), s), [(3, 4), (2, 4)]),
    ("unfold", "Im2ColBackward0", lambda x: F.unfold(x, 2, padding=1), [(2, 3, 5, 5)]),
    ("fold", "Col2ImBackward0", lambda c: F.fold(c, (4, 4), 2), [(2, 8, 9)]),
    ("max_pool2d", "MaxPool2DWithIndicesBackward0", lambda x: F.max_pool2d(x, 2), [(2, 3, 6, 6)]),
    ("cross_entropy", "NllLossBackward0", lambda x: F.cross_entropy(x, torch.tensor([0, 3, 1]).to(x.device)), [(3, 4)]),
    ("cross_entropy_none", "NllLossBackward0",
     lambda x: F.cross_entropy(x, torch.tensor([0, 3, 1]).to(x.device), reduction="none"), [(3, 4)]),
]


def _run(fn, shapes, device):
    rng = np.random.default_rng(0)
    leaves = [torch.tensor(rng.uniform(-2, 2, s).astype(np.float32), device=device, requires_grad=True) for s in shapes]
    out = fn(*leaves)
    weights = torch.tensor(rng.uniform(-1, 1, tuple(out.shape)).astype(np.float32), device=device)
    (out * weights).sum().backward()
    return out, [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,grad_fn,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_grad_fn_name_is_pytorchs(name, grad_fn, fn, shapes, device):
    out, grads = _run(fn, shapes, device)
    assert out.grad_fn.name() == grad_fn
    assert all(g is not None and g.device.type == torch.device(device).type for g in grads)
    if device == GPU:
        _, cpu_grads = _run(fn, shapes, "cpu")
        for g, c in zip(grads, cpu_grads):
            close_on_gpu(g, c)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool2d_double_backward(device):
    """The backward of max pooling records PyTorch's node, and its own backward gathers the
    weights at each window's maximum."""
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32), device=device, requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    upstream = torch.ones(*out.shape, device=device, requires_grad=True)
    (g,) = torch.autograd.grad(out, x, grad_outputs=upstream, create_graph=True)
    assert g.grad_fn.name() == "MaxPool2DWithIndicesBackwardBackward0"
    w = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    (gg,) = torch.autograd.grad((g * torch.tensor(w, device=device)).sum(), upstream)
    expected = np.take_along_axis(w.reshape(2, 3, 16), idx.cpu().numpy().reshape(2, 3, 4), 2).reshape(2, 3, 2, 2)
    assert gg.device.type == torch.device(device).type
    np.testing.assert_array_equal(gg.cpu().numpy(), expected)
