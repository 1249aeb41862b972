"""ferrograd.Variable / keras.Variable: construction, assign*, trainable, copies, on each device."""
import copy
import pickle

import numpy as np
import pytest

import ferrograd as torch
from ferrograd import keras
from helpers import DEVICE  # noqa: F401  (the device fixture sets the default device)


def pytest_generate_tests(metafunc):
    metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


def test_variable_is_a_parameter_with_tf_attributes(on_device):
    v = torch.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
    assert isinstance(v, torch.nn.Parameter) and v.requires_grad and v.trainable
    assert v.name == "w" and v.path == "w" and tuple(v.shape) == (2, 2) and v.dtype == torch.float32
    assert v.device.type == on_device
    np.testing.assert_array_equal(v.numpy(), [[1, 2], [3, 4]])
    assert v.value is v
    np.testing.assert_array_equal(np.asarray(v), [[1, 2], [3, 4]])


def test_numpy_returns_a_copy():
    v = torch.Variable(np.zeros(3, np.float32))
    a = v.numpy()
    v.assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a, [0, 0, 0])


def test_variable_copies_its_initial_value():
    src = torch.zeros(3)
    v = torch.Variable(src)
    v.assign_add([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(src.cpu().numpy(), [0, 0, 0])


def test_dtypes():
    assert torch.Variable(1.5).dtype == torch.float32
    assert torch.Variable(np.ones(2, np.float64)).dtype == torch.float64
    assert torch.Variable([1, 2], dtype="float32").dtype == torch.float32
    ints = torch.Variable(np.arange(3))
    assert ints.dtype == torch.int64 and ints.trainable and not ints.requires_grad
    # Keras's Variable defaults to the float type whatever the value is.
    assert keras.Variable(np.arange(3)).dtype == torch.float32


def test_assign_in_place_and_version_counted(on_device):
    v = torch.Variable(np.ones(3, np.float32))
    ptr, version = v.data_ptr(), v._version
    assert v.assign(np.array([1.0, 2.0, 3.0])) is v
    v.assign_add(torch.ones(3))
    v.assign_sub(0.5 * np.ones(3, np.float32))
    np.testing.assert_allclose(v.numpy(), [1.5, 2.5, 3.5])
    assert v.data_ptr() == ptr and v._version == version + 3
    assert v.grad_fn is None and v.requires_grad


def test_assign_invalidates_saved_tensor():
    v = torch.Variable([1.0, 2.0])
    y = (v * v).sum()
    v.assign([3.0, 4.0])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_assign_wrong_shape_names_shapes():
    v = torch.Variable(np.zeros((2, 3), np.float32), name="kernel")
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\).*kernel"):
        v.assign(np.zeros((3, 2)))


def test_trainable_flips_requires_grad():
    v = torch.Variable([1.0])
    v.trainable = False
    assert not v.requires_grad and not v.trainable
    v.trainable = True
    assert v.requires_grad
    assert not torch.Variable([1.0], trainable=False).requires_grad


def test_callable_initial_value_and_keras_initializer():
    v = torch.Variable(lambda: np.full((2,), 3.0, np.float32))
    np.testing.assert_array_equal(v.numpy(), [3, 3])
    k = keras.Variable(lambda shape, dtype: np.ones(shape, dtype), shape=(2, 2), name="k")
    np.testing.assert_array_equal(k.numpy(), np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        keras.Variable(lambda shape, dtype: np.ones(shape), name="k")
    with pytest.raises(ValueError, match="cannot contain"):
        keras.Variable(1.0, name="a/b")
    with pytest.raises(ValueError, match="initial_value"):
        torch.Variable()


def test_copies_keep_value_name_and_trainable(on_device):
    v = torch.Variable([1.0, 2.0], name="w", trainable=False)
    for c in (copy.deepcopy(v), pickle.loads(pickle.dumps(v))):
        assert type(c) is torch.Variable and c.name == "w" and not c.trainable
        assert c.device.type == on_device
        np.testing.assert_array_equal(c.numpy(), [1, 2])
        c.assign([0.0, 0.0])
        np.testing.assert_array_equal(v.numpy(), [1, 2])


def test_module_registers_and_optimizer_updates_a_variable():
    net = torch.nn.Module()
    net.w = torch.Variable([1.0, 2.0])
    assert list(dict(net.named_parameters())) == ["w"] and list(net.state_dict()) == ["w"]
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    (net.w * net.w).sum().backward()
    opt.step()
    np.testing.assert_allclose(net.w.numpy(), [0.0, 0.0])


def test_repr_is_keras_style():
    assert repr(torch.Variable([1.0], name="b")) == "<Variable path=b, shape=(1,), dtype=float32, value=[1.]>"
