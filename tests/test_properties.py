"""Property-based tests (hypothesis): broadcasting, views, reshape and indexing laws hold
against numpy for random shapes and indices."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as torch
from helpers import data as as_test_dtype, float_dtype

settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
def test_broadcasting_matches_numpy(bs):
    (sa, sb), result = bs.input_shapes, bs.result_shape
    a = np.arange(int(np.prod(sa)), dtype=np.float64).reshape(sa)
    b = np.arange(int(np.prod(sb)), dtype=np.float64).reshape(sb) * 0.5
    ta, tb = torch.tensor(a, dtype=float_dtype()), torch.tensor(b, dtype=float_dtype())  # exact in float32 too
    out = ta * tb + tb
    assert tuple(out.shape) == result
    np.testing.assert_array_equal(out.cpu().numpy(), a * b + b)


@given(shapes, st.data())
def test_reshape_roundtrip_and_permute(shape, data):
    a = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    t = torch.tensor(a)
    perm = data.draw(st.permutations(range(len(shape))))
    p = t.permute(*perm) if shape else t
    np.testing.assert_array_equal(p.cpu().numpy(), a.transpose(perm) if shape else a)
    flat = p.reshape(-1)
    np.testing.assert_array_equal(flat.cpu().numpy(), (a.transpose(perm) if shape else a).reshape(-1))
    back = flat.reshape(p.shape)
    np.testing.assert_array_equal(back.cpu().numpy(), p.cpu().numpy())
    if p.is_contiguous():
        assert p.view(-1)._same_storage(t)


def _slices(n):
    return st.builds(slice, st.none() | st.integers(-n - 2, n + 2), st.none() | st.integers(-n - 2, n + 2),
                     st.none() | st.integers(1, 3))


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), st.data())
def test_basic_indexing_matches_numpy(shape, data):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    idx = []
    for n in shape:
        idx.append(data.draw(st.one_of(_slices(n), st.integers(-n, n - 1), st.just(None))))
    idx = tuple(idx)
    t = torch.tensor(a)
    try:
        expected = a[idx]
    except IndexError:
        with pytest.raises(IndexError):
            t[idx]
        return
    out = t[idx]
    np.testing.assert_array_equal(out.cpu().numpy(), expected)
    assert out._same_storage(t)  # basic indexing gives a view


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), st.data())
def test_advanced_indexing_matches_numpy(shape, data):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    k = data.draw(st.integers(1, len(shape)))
    idx = tuple(np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)))
                for n in shape[:k])
    length = min(len(i) for i in idx)
    idx = tuple(i[:length] for i in idx)
    np.testing.assert_array_equal(torch.tensor(a)[tuple(torch.tensor(i) for i in idx)].cpu().numpy(), a[idx])
    mask = a % 3 == 0
    np.testing.assert_array_equal(torch.tensor(a)[torch.tensor(mask)].cpu().numpy(), a[mask])


@given(hnp.arrays(np.float64, shapes, elements=st.floats(-100, 100)), st.data())
def test_setitem_then_getitem(a, data):
    a = as_test_dtype(a)
    t = torch.tensor(a)
    if a.ndim == 0:
        return
    n = a.shape[0]
    i = data.draw(st.integers(-n, n - 1)) if n else None
    if i is None:
        return
    t[i] = 7.5
    a = a.copy()
    a[i] = 7.5
    np.testing.assert_array_equal(t.cpu().numpy(), a)


@given(shapes)
def test_sum_over_all_dims_equals_numpy(shape):
    a = as_test_dtype(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) / 7)
    assert np.isclose(torch.tensor(a).sum().item(), a.sum())
    if shape:
        np.testing.assert_allclose(torch.tensor(a).sum(0).cpu().numpy(), a.sum(0), rtol=1e-6)
