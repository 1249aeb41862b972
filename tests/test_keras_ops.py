"""keras.ops against Keras 3 itself (its numpy backend, run once in its own interpreter by
keras_reference.py) on the same inputs; each device."""
import numpy as np
import pytest

import ferrograd as torch
from ferrograd import keras as fkeras
from helpers import check_grad, on_gpu
from keras_ops_cases import A, C, CASES, M
from keras_reference import reference

ops = fkeras.ops


def pytest_generate_tests(metafunc):
    metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


def _ids(case):
    name, args, kw = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in kw.items()) if kw else "")


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _compare(ours, ref, rtol, atol):
    if isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(ref), (type(ours), len(ref))
        for o, r in zip(ours, ref):
            _compare(o, r, rtol, atol)
        return
    assert isinstance(ours, torch.Tensor), type(ours)
    assert ours.device.type == ("gpu" if on_gpu() else "cpu")
    expected = np.asarray(ref)
    got = _np(ours)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    # Keras gives int32 where ferrograd gives int64 (its only integer type); kinds must agree.
    assert got.dtype.kind == expected.dtype.kind or {got.dtype.kind, expected.dtype.kind} <= {"i", "u"}, \
        (got.dtype, expected.dtype)
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_ids(c) for c in CASES])
def test_op_matches_keras(index):
    name, args, kw = CASES[index]
    ref = reference("keras_ops_cases", "keras_results")["results"][index]
    ours = getattr(ops, name)(*args, **kw)
    tol = 1e-4 if on_gpu() else 1e-5
    _compare(ours, ref, rtol=tol, atol=tol)


def test_every_op_is_keras_named():
    ours = set(ops.__all__)
    keras_names = set(reference("keras_ops_cases", "keras_results")["names"])
    assert not {n for n in ours if n not in keras_names}
    assert len(ours & keras_names) >= 200


def test_control_flow():
    assert int(ops.fori_loop(0, 5, lambda i, v: v + i, ops.convert_to_tensor(0))) == 10
    assert ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 2), (0, 1)) == (4, 16)
    assert ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0, maximum_iterations=2) == 6
    assert ops.cond(True, lambda: 1, lambda: 2) == 1
    assert ops.switch(5, [lambda x: x + 1, lambda x: x * 10], 2) == 20
    np.testing.assert_allclose(_np(ops.map(lambda r: r.sum(), A)), A.sum(1), rtol=1e-6)
    np.testing.assert_allclose(_np(ops.vectorized_map(lambda r: r * 2, A)), A * 2)


def test_conversions():
    assert ops.convert_to_tensor(np.ones(2, np.float64)).dtype == torch.float64
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == torch.float32
    assert ops.convert_to_tensor([1, 2]).dtype == torch.int64
    assert ops.dtype(ops.ones(2)) == "float32"
    x = torch.ones(2, requires_grad=True) * 2
    arr = ops.convert_to_numpy(x)
    assert isinstance(arr, np.ndarray) and arr.tolist() == [2.0, 2.0]
    assert ops.is_tensor(x) and not ops.is_tensor(arr)
    assert ops.shape(C) == (2, 3, 4) and ops.ndim(C) == 3 and ops.size(C) == 24


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="same shape"):
        ops.binary_crossentropy(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="cannot squeeze axis 1 of shape \\(3, 4\\)"):
        ops.squeeze(A, axis=1)
    with pytest.raises(NotImplementedError, match="ord=2 with axis=\\(0, 1\\)"):
        ops.norm(A, ord=2, axis=(0, 1))
    with pytest.raises(TypeError, match="float8"):
        ops.cast(A, "float8_e4m3fn")


def test_ops_stay_on_the_tape():
    def fn(x, y):
        return ops.sum(ops.logsumexp(ops.matmul(x, y), axis=1) + ops.mean(ops.square(x), axis=-1)
                       - ops.categorical_crossentropy(ops.softmax(ops.matmul(x, y)), ops.sigmoid(ops.matmul(x, y))))
    check_grad(fn, A.astype(np.float64), M.astype(np.float64))


def test_conv_and_pool_gradients():
    rng = np.random.default_rng(2)
    x, k = rng.uniform(-1, 1, (1, 5, 4, 2)), rng.uniform(-1, 1, (2, 2, 2, 3))

    def fn(x, k):
        y = ops.conv(x, k, padding="same", strides=(2, 1))
        return ops.max_pool(y, 2, strides=1, padding="same") + ops.average_pool(y, (2, 1), strides=1, padding="same")
    check_grad(fn, x, k)
