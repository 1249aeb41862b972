"""Views share memory; shape ops, slicing, advanced indexing, setitem, gather/scatter, joins."""
import numpy as np
import pytest

import ferrograd as torch
from helpers import assert_close, check_grad, data, float_dtype, on_gpu, rand, t64


def test_views_share_storage():
    x = torch.arange(12.0)
    for v in [x.view(3, 4), x.reshape(3, 4), x.view(3, 4).t(), x.view(3, 4).permute(1, 0), x[2:8:2],
              x.view(3, 4).transpose(0, 1), x.unsqueeze(0), x.view(3, 4)[1], x.narrow(0, 2, 3),
              x.view(1, 12).squeeze(0), x.view(3, 4).flatten(), x.view(2, 6).T, x.view(3, 1, 4).expand(3, 2, 4)]:
        assert v._same_storage(x)
    v = x.view(3, 4)
    v[1, 2] = 100.0
    assert x[6].item() == 100.0


def test_view_requires_compatible_strides():
    x = torch.arange(6.0).view(2, 3).t()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(6)
    r = x.reshape(6)
    assert r.tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    assert not r._same_storage(x)
    assert x.contiguous().is_contiguous() and not x.is_contiguous()


def test_shape_ops_match_numpy():
    a = rand(2, 3, 4)
    t = torch.tensor(a)
    assert_close(t.permute(2, 0, 1), a.transpose(2, 0, 1))
    assert_close(t.transpose(0, 2), a.swapaxes(0, 2))
    assert_close(t.reshape(4, -1), a.reshape(4, -1))
    assert_close(t.flatten(1), a.reshape(2, 12))
    assert_close(t.unflatten(2, (2, 2)), a.reshape(2, 3, 2, 2))
    assert_close(t.unsqueeze(-1), a[..., None])
    assert_close(t[:, :1].squeeze(1), a[:, 0])
    assert_close(t[:, :1].squeeze(), a[:, 0])
    assert_close(t.movedim(0, -1), np.moveaxis(a, 0, -1))
    assert_close(t.flip(1), a[:, ::-1])
    assert_close(t.flip((0, 2)), a[::-1, :, ::-1])
    assert_close(t.roll(1, 2), np.roll(a, 1, 2))
    assert_close(torch.roll(t, (1, -1), (0, 1)), np.roll(a, (1, -1), (0, 1)))
    assert_close(t.repeat(2, 1, 1), np.tile(a, (2, 1, 1)))
    assert_close(torch.tensor([1.0, 2.0]).repeat(3), np.tile([1.0, 2.0], 3))
    assert_close(t.expand(2, 2, 3, 4), np.broadcast_to(a, (2, 2, 3, 4)))
    assert_close(t.narrow(2, 1, 2), a[:, :, 1:3])
    assert t.size() == (2, 3, 4) and t.size(-1) == 4 and t.shape[1] == 3 and t.dim() == 3
    assert t.stride() == (12, 4, 1)
    assert t.transpose(0, 2).stride() == (1, 4, 12)


def test_shape_ops_backward():
    a = rand(2, 3, 4)
    check_grad(lambda x: x.permute(2, 0, 1) * torch.arange(24.0).view(4, 2, 3).to(float_dtype()), a)
    check_grad(lambda x: x.reshape(6, 4)[::2] * 2, a)
    check_grad(lambda x: x.expand(3, 2, 3, 4) * torch.arange(3.0).view(3, 1, 1, 1).to(float_dtype()), a)
    check_grad(lambda x: x.flip(1)[:, :2], a)
    check_grad(lambda x: x.repeat(2, 1, 2), a)
    check_grad(lambda x: torch.roll(x, 1, 2), a)
    check_grad(lambda x: x.unfold(2, 2, 1), a)
    check_grad(lambda x: x[1, 1:, ::3], a)


def test_cat_stack_split_chunk():
    a, b = rand(2, 3), rand(4, 3, rng=np.random.default_rng(1))
    assert_close(torch.cat([torch.tensor(a), torch.tensor(b)]), np.concatenate([a, b]))
    assert_close(torch.stack([torch.tensor(a), torch.tensor(a)], 1), np.stack([a, a], 1))
    parts = torch.tensor(b).split(3)
    assert [p.shape[0] for p in parts] == [3, 1]
    parts = torch.tensor(b).split([1, 3])
    assert_close(parts[1], b[1:])
    chunks = torch.arange(10).chunk(3)
    assert [c.tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    check_grad(lambda x, y: torch.cat([x, y], 0), a, b)
    check_grad(lambda x: torch.stack([x, 2 * x], 2), a)
    check_grad(lambda x: x.split(2, 0)[1], b)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        torch.cat([torch.ones(2, 3), torch.ones(2, 4)])
    if not on_gpu():  # float64 exists on the CPU only
        assert torch.cat([torch.ones(2), torch.ones(1, dtype=torch.float64)]).dtype == torch.float64


def test_basic_indexing_matches_numpy():
    a = rand(4, 5, 6)
    t = torch.tensor(a)
    for idx in [1, -1, (1, 2), (slice(1, 3),), (slice(None, None, 2), 1), (Ellipsis, 2), (None, 1),
                (slice(-3, None), Ellipsis, None), (1, slice(None), slice(4, 1)), (slice(10, 20),)]:
        assert_close(t[idx], a[idx])


def test_advanced_indexing_matches_numpy():
    a = rand(4, 5, 6)
    t = torch.tensor(a)
    i = np.array([0, 2, 3])
    j = np.array([1, 1, 4])
    cases = [(i,), (i, j), (slice(None), i), (i, slice(None), j), (Ellipsis, j), (a[:, :, 0] > 0,),
             (a > 0,), ([0, 1],), (1, [0, 2]), (i[:, None], j[None, :]), (slice(1, 3), a[0, :, 0] > 0)]
    for idx in cases:
        tidx = tuple(torch.tensor(v) if isinstance(v, np.ndarray) else v for v in idx)
        assert_close(t[tidx], a[idx])
    check_grad(lambda x: x[torch.tensor(i), :, torch.tensor(j)], a)
    check_grad(lambda x: x[torch.tensor(a > 0)], a)
    with pytest.raises(IndexError):
        t[torch.tensor([7])]
    with pytest.raises(IndexError):
        t[1, 2, 3, 4]
    with pytest.raises(IndexError):
        t[10]


def test_setitem_forms():
    a = np.zeros((3, 4))
    t = torch.zeros(3, 4, dtype=float_dtype())
    for idx, val in [((1,), 5.0), ((slice(None), 2), data([1.0, 2.0, 3.0])), ((0, slice(1, 3)), 7.0),
                     ((np.array([0, 2]), np.array([3, 3])), 9.0)]:
        a[idx] = val
        tidx = tuple(torch.tensor(v) if isinstance(v, np.ndarray) else v for v in idx)
        t[tidx] = torch.tensor(val) if isinstance(val, np.ndarray) else val
        assert_close(t, a)
    t[t > 4] = -1.0
    a[a > 4] = -1.0
    assert_close(t, a)
    with pytest.raises(RuntimeError):
        t[0] = torch.ones(5)


def test_setitem_with_autograd():
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[1] = x[0] * 10
    y.sum().backward()
    assert_close(x.grad, [12.0, 0.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x[0] = 1.0


def test_gather_scatter_index_select():
    a = rand(3, 4)
    idx = np.array([[0, 1, 1], [3, 0, 2], [2, 2, 2]])
    t = torch.tensor(a)
    assert_close(t.gather(1, torch.tensor(idx)), np.take_along_axis(a, idx, 1))
    assert_close(torch.index_select(t, 1, torch.tensor([3, 0])), a[:, [3, 0]])
    src = rand(3, 3, rng=np.random.default_rng(2))
    ref = np.zeros((3, 4))
    for r in range(3):
        for c in range(3):
            ref[r, idx[r, c]] += src[r, c]
    assert_close(torch.zeros(3, 4, dtype=float_dtype()).scatter_add(1, torch.tensor(idx), torch.tensor(src)), ref)
    uniq = np.array([[0, 1, 2], [3, 0, 2], [2, 1, 0]])
    ref = a.copy()
    for r in range(3):
        for c in range(3):
            ref[r, uniq[r, c]] = src[r, c]
    assert_close(t.scatter(1, torch.tensor(uniq), torch.tensor(src)), ref)
    check_grad(lambda x: x.gather(1, torch.tensor(idx)), a)
    check_grad(lambda x, s: x.scatter(1, torch.tensor(uniq), s), a, src)
    check_grad(lambda x, s: x.scatter_add(1, torch.tensor(idx), s), a, src)
    check_grad(lambda x: torch.index_select(x, 0, torch.tensor([2, 0, 2])), a)
    with pytest.raises(RuntimeError):
        t.gather(1, torch.tensor(idx).double())
    with pytest.raises(RuntimeError, match="out of"):  # PyTorch's type for gather/scatter indices
        t.gather(1, torch.tensor([[9]])).cpu()  # the GPU reports it at the next read, as CUDA does


def test_masked_select_nonzero():
    a = rand(3, 4)
    m = a > 0
    assert_close(torch.masked_select(torch.tensor(a), torch.tensor(m)), a[m])
    np.testing.assert_array_equal(torch.nonzero(torch.tensor(m)).cpu().numpy(), np.argwhere(m))
    rows, cols = torch.nonzero(torch.tensor(m), as_tuple=True)
    np.testing.assert_array_equal(rows.cpu().numpy(), np.nonzero(m)[0])
    check_grad(lambda x: torch.masked_select(x, torch.tensor(m)), a)


def test_pad_constant():
    import ferrograd.nn.functional as F
    a = rand(2, 3)
    assert_close(F.pad(torch.tensor(a), (1, 2)), np.pad(a, ((0, 0), (1, 2))))
    assert_close(F.pad(torch.tensor(a), (1, 0, 0, 2), value=3.0), np.pad(a, ((0, 2), (1, 0)), constant_values=3.0))
    assert_close(F.pad(torch.tensor(a), (-1, 0)), a[:, 1:])
    check_grad(lambda x: F.pad(x, (1, 1, 2, 0)), a)


def test_0d_tensors():
    s = torch.tensor(3.5)
    assert s.shape == () and s.ndim == 0 and s.item() == 3.5 and float(s) == 3.5
    assert (s * torch.ones(2)).tolist() == [3.5, 3.5]
    assert s.sum().item() == 3.5 and s.reshape(1).shape == (1,)
    with pytest.raises(IndexError):
        s[0]
    with pytest.raises(TypeError):
        len(s)
