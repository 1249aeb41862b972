"""Reductions, scans, matmul family, softmax family, einsum: forward vs numpy and gradcheck."""
import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
from ferrograd.autograd import gradgradcheck
from helpers import assert_close, check_grad, data, noncontig, on_gpu, rand, t64

DIMS = [None, 0, 1, -1, (0, 2), (1, 2)]


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean_prod(dim, keepdim):
    a = rand(2, 3, 4)
    ax = dim
    # prod takes one int dim, as in PyTorch (a tuple is a TypeError).
    reductions = [(torch.sum, np.sum), (torch.mean, np.mean)] + ([] if isinstance(dim, tuple) else [(torch.prod, np.prod)])
    for f, ref in reductions:
        out = f(torch.tensor(a), dim=dim, keepdim=keepdim) if dim is not None else f(torch.tensor(a))
        exp = ref(a, axis=ax, keepdims=keepdim) if dim is not None else ref(a)
        assert_close(out, exp, rtol=1e-10)
    if isinstance(dim, tuple):
        with pytest.raises(TypeError, match="must be int"):
            torch.prod(torch.tensor(a), dim=dim)
    if dim is not None:
        check_grad(lambda x: x.sum(dim, keepdim), a)
        check_grad(lambda x: x.mean(dim, keepdim), a)
        if not isinstance(dim, tuple):
            check_grad(lambda x: x.prod(dim, keepdim), a)


def test_prod_grad_with_zeros():
    a = data([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0]])
    check_grad(lambda x: x.prod(1), a)
    check_grad(lambda x: x.prod(), a[2])


def test_reductions_on_views_and_empty():
    a = rand(4, 5)
    assert_close(noncontig(a).sum(0), a.sum(0))
    assert_close(torch.tensor(a)[:, 1::2].mean(1), a[:, 1::2].mean(1))
    e = torch.zeros(0, 3)
    assert_close(e.sum(0), np.zeros(3))
    assert_close(e.sum(), 0.0)
    assert np.isnan(e.mean().item())
    assert torch.tensor([1, 2, 3]).sum().dtype == torch.int64
    assert torch.tensor([True, True]).sum().item() == 2


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_with_dim(dim):
    a = rand(3, 4)
    v, i = torch.max(torch.tensor(a), dim)
    assert_close(v, a.max(dim))
    np.testing.assert_array_equal(i.cpu().numpy(), a.argmax(dim))
    v, i = torch.tensor(a).min(dim, keepdim=True)
    assert_close(v, a.min(dim, keepdims=True))
    r = torch.tensor(a).max(dim)
    assert r.values is not None and r.indices.dtype == torch.int64
    check_grad(lambda x: x.max(dim)[0], a)
    check_grad(lambda x: x.min(dim, keepdim=True).values, a)


def test_max_all_amax_argmax():
    a = rand(3, 4)
    assert_close(torch.tensor(a).max(), a.max())
    assert_close(torch.tensor(a).min(), a.min())
    assert_close(torch.amax(torch.tensor(a), dim=(0, 1)), a.max())
    assert_close(torch.amin(torch.tensor(a), 1), a.min(1))
    assert torch.argmax(torch.tensor(a)).item() == a.argmax()
    np.testing.assert_array_equal(torch.argmin(torch.tensor(a), 0).cpu().numpy(), a.argmin(0))
    check_grad(lambda x: x.max(), a)
    check_grad(lambda x: torch.amax(x, 1), a)
    # Ties share the gradient evenly for amax and max().
    x = t64([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    assert_close(x.grad, [0.0, 0.5, 0.5])
    assert torch.max(torch.tensor([1.0, 5.0]), torch.tensor([3.0, 2.0])).tolist() == [3.0, 5.0]


@pytest.mark.parametrize("unbiased", [True, False])
def test_var_std(unbiased):
    a = rand(3, 5)
    ddof = 1 if unbiased else 0
    assert_close(torch.tensor(a).var(unbiased=unbiased), a.var(ddof=ddof))
    assert_close(torch.tensor(a).std(1, unbiased=unbiased), a.std(1, ddof=ddof))
    assert_close(torch.var(torch.tensor(a), 0, correction=2, keepdim=True), a.var(0, ddof=2, keepdims=True))
    check_grad(lambda x: x.var(1, unbiased=unbiased), a)
    check_grad(lambda x: x.std(0), a)


def test_logsumexp_stable():
    a = rand(3, 4) * 100
    ref = np.log(np.exp(a - a.max(1, keepdims=True)).sum(1)) + a.max(1)
    assert_close(torch.logsumexp(torch.tensor(a), 1), ref)
    big = torch.tensor([1000.0, 1000.0])
    assert abs(torch.logsumexp(big, 0).item() - (1000 + np.log(2))) < 1e-3
    check_grad(lambda x: torch.logsumexp(x, (0, 1)), a / 100)


@pytest.mark.parametrize("p", [2, 1, float("inf"), 3])
def test_norm(p):
    a = rand(3, 4)
    ref = np.linalg.norm(a.reshape(-1), ord=p)
    assert_close(torch.norm(torch.tensor(a), p), ref)
    assert_close(torch.tensor(a).norm(p, dim=1), np.linalg.norm(a, ord=p, axis=1))
    check_grad(lambda x: x.norm(p, dim=1), a)
    z = t64(np.zeros(3), requires_grad=True)
    z.norm().backward()
    assert_close(z.grad, np.zeros(3))


# Ops recorded as one node of their own (PyTorch's), with a backward rule written in tensor
# ops: gradcheck on every device, and on the CPU the rule's own graph (create_graph) too.
OWN_NODE = [
    ("mean", lambda x: x.mean()),
    ("mean_dim", lambda x: x.mean(1, keepdim=True)),
    ("max", lambda x: x.max()),
    ("min", lambda x: x.min()),
    ("var", lambda x: x.var(1)),
    ("std", lambda x: x.std()),
    ("std_keepdim", lambda x: x.std(0, keepdim=True, correction=0)),
    ("logsumexp", lambda x: x.logsumexp(1)),
    ("norm", lambda x: x.norm()),
    ("norm_p1", lambda x: x.norm(1, dim=0)),
    ("norm_inf", lambda x: x.norm(float("inf"), dim=1)),
    ("norm_p3", lambda x: x.norm(3)),
    ("norm_p_half", lambda x: x.norm(0.5, dim=1, keepdim=True)),
    ("mv", lambda x: torch.mv(x, x[1])),
    ("topk", lambda x: x.topk(2, dim=1).values),
    ("topk_smallest", lambda x: x.topk(2, dim=0, largest=False).values),
    ("median", lambda x: x.median(1).values),
    ("median_keepdim", lambda x: x.median(0, keepdim=True).values),
    ("kthvalue", lambda x: x.kthvalue(2, 1).values),
    ("linear_no_bias", lambda x: F.linear(x, x)),
]


@pytest.mark.parametrize("fn", [c[1] for c in OWN_NODE], ids=[c[0] for c in OWN_NODE])
def test_own_node_gradients(fn):
    a = rand(3, 4)
    check_grad(fn, a)
    if not on_gpu():
        assert gradgradcheck(fn, [t64(a, requires_grad=True)], eps=1e-6, atol=1e-5, rtol=1e-4)


def test_own_node_subgradients():
    # std of a constant row and p-norms of zeros: PyTorch's 0, not nan.
    x = t64(np.ones((2, 3)), requires_grad=True)
    x.std(1).sum().backward()
    assert_close(x.grad, np.zeros((2, 3)))
    for p in (0.5, 3):
        z = t64(np.zeros(3), requires_grad=True)
        z.norm(p).backward()
        assert_close(z.grad, np.zeros(3))
    # max() and norm(inf) share the gradient among ties; max(dim) and median(dim) give it to
    # the index they return.
    t = t64(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    t.max().backward()
    assert_close(t.grad, np.array([0.0, 0.5, 0.5]))
    t = t64(np.array([-3.0, 1.0, 3.0]), requires_grad=True)
    t.norm(float("inf")).backward()
    assert_close(t.grad, np.array([-0.5, 0.0, 0.5]))
    t = t64(np.array([[2.0, 1.0, 2.0, 5.0]]), requires_grad=True)
    v, i = t.median(1)
    v.sum().backward()
    expect = np.zeros((1, 4))
    expect[0, i.item()] = 1.0
    assert_close(t.grad, expect)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_cumprod(dim):
    a = rand(3, 4)
    assert_close(torch.cumsum(torch.tensor(a), dim), np.cumsum(a, dim))
    assert_close(torch.cumprod(torch.tensor(a), dim), np.cumprod(a, dim))
    check_grad(lambda x: x.cumsum(dim), a)
    check_grad(lambda x: x.cumprod(dim), a)
    z = data([[2.0, 0.0, 3.0, 1.5]])
    check_grad(lambda x: x.cumprod(1), z)
    assert torch.tensor([1, 2, 3]).cumsum(0).tolist() == [1, 3, 6]


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((0, 3), (3, 2)), ((2, 0), (0, 3))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_shapes(sa, sb):
    a, b = rand(*sa), rand(*sb, rng=np.random.default_rng(1))
    assert_close(torch.matmul(torch.tensor(a), torch.tensor(b)), np.matmul(a, b), rtol=1e-10)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    assert_close(torch.tensor(a32) @ torch.tensor(b32), a32 @ b32, rtol=1e-5, atol=1e-5)
    if 0 not in sa and 0 not in sb:
        check_grad(torch.matmul, a, b)


def test_matmul_transposed_operands_and_ints():
    a, b = rand(4, 3), rand(5, 4)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert_close(ta.t() @ tb.t(), a.T @ b.T)
    assert_close(torch.tensor(a)[::2] @ torch.tensor(rand(3, 2)), a[::2] @ rand(3, 2))
    i = np.arange(6).reshape(2, 3)
    if on_gpu():  # as PyTorch's CUDA build, integer matmul has no GPU kernel
        with pytest.raises(NotImplementedError, match="matmul.*int64"):
            torch.tensor(i) @ torch.tensor(i.T)
    else:
        assert (torch.tensor(i) @ torch.tensor(i.T)).tolist() == (i @ i.T).tolist()
    big = rand(70, 80).astype(np.float32), rand(80, 90).astype(np.float32)
    assert_close(torch.tensor(big[0]) @ torch.tensor(big[1]), big[0] @ big[1], rtol=1e-4, atol=1e-4)


def test_mm_bmm_dot_outer():
    a, b = rand(2, 3), rand(3, 4)
    assert_close(torch.mm(torch.tensor(a), torch.tensor(b)), a @ b)
    x, y = rand(5, 2, 3), rand(5, 3, 4)
    assert_close(torch.bmm(torch.tensor(x), torch.tensor(y)), x @ y)
    u, v = rand(3), rand(3, rng=np.random.default_rng(9))
    assert_close(torch.dot(torch.tensor(u), torch.tensor(v)), u @ v)
    assert_close(torch.outer(torch.tensor(u), torch.tensor(v)), np.outer(u, v))
    check_grad(torch.bmm, x, y)
    check_grad(torch.dot, u, v)
    with pytest.raises(RuntimeError):
        torch.mm(torch.tensor(a), torch.tensor(a))
    with pytest.raises(RuntimeError):
        torch.bmm(torch.tensor(a), torch.tensor(b))
    with pytest.raises(RuntimeError):
        torch.matmul(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.float64))


EINSUM = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("i,i->", [(3,), (3,)]),
          ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("ii->i", [(3, 3)]), ("i,j->ij", [(2,), (3,)]),
          ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 4)]),
          ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ij,ij->i", [(2, 3), (2, 3)]), ("ij", [(2, 3)]),
          ("ijk->kj", [(2, 3, 4)])]


@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_einsum(eq, shapes):
    arrs = [rand(*s, rng=np.random.default_rng(i)) for i, s in enumerate(shapes)]
    assert_close(torch.einsum(eq, *[torch.tensor(a) for a in arrs]), np.einsum(eq, *arrs), rtol=1e-10)
    check_grad(lambda *xs: torch.einsum(eq, *xs), *arrs)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(dim):
    a = rand(3, 4) * 3
    e = np.exp(a - a.max(dim, keepdims=True))
    sm = e / e.sum(dim, keepdims=True)
    assert_close(torch.softmax(torch.tensor(a), dim), sm)
    assert_close(torch.log_softmax(torch.tensor(a), dim), np.log(sm))
    check_grad(lambda x: torch.softmax(x, dim), a)
    check_grad(lambda x: torch.log_softmax(x, dim), a)
    huge = torch.tensor([[1000.0, 0.0, -1000.0]])
    assert torch.isfinite(torch.log_softmax(huge, 1)).all().item()
    assert_close(torch.softmax(huge, 1), [[1.0, 0.0, 0.0]])
