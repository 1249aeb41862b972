"""Creation functions, dtypes, devices, numpy interop, Python conversions and repr."""
import copy
import pickle

import numpy as np
import pytest

import ferrograd as torch
from helpers import assert_close


def test_tensor_inference_and_dtype():
    assert torch.tensor([1.0, 2.0]).dtype == torch.float32
    assert torch.tensor([1, 2]).dtype == torch.int64
    assert torch.tensor([True, False]).dtype == torch.bool
    assert torch.tensor(3).shape == () and torch.tensor(3).dtype == torch.int64
    assert torch.tensor([[1, 2], [3, 4]], dtype=torch.float64).dtype == torch.float64
    assert torch.tensor(np.ones(2)).dtype == torch.float64
    assert torch.tensor(np.ones(2, dtype=np.int32)).dtype == torch.int32
    assert torch.tensor([torch.tensor(1.0), torch.tensor(2.0)]).tolist() == [1.0, 2.0]
    assert torch.tensor([]).shape == (0,)
    assert torch.get_default_dtype() == torch.float32
    with pytest.raises((TypeError, ValueError)):
        torch.tensor([[1, 2], [3]])


def test_conversions():
    x = torch.tensor([1.5, 2.5])
    assert x.double().dtype == torch.float64 and x.long().tolist() == [1, 2] and x.int().dtype == torch.int32
    assert x.bool().tolist() == [True, True] and x.float() is x
    assert x.to(torch.float64).dtype == torch.float64 and x.to("cpu") is x
    assert x.to(torch.ones(1, dtype=torch.float64)).dtype == torch.float64
    assert x.type(torch.int64).dtype == torch.int64
    assert float(torch.tensor(2.5)) == 2.5 and int(torch.tensor(3)) == 3 and bool(torch.tensor(1))
    assert torch.tensor(7).item() == 7 and isinstance(torch.tensor(7).item(), int)
    assert len(torch.zeros(4, 2)) == 4
    assert [r.tolist() for r in torch.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert [1, 2, 3][torch.tensor(1)] == 2
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(torch.ones(2))
    with pytest.raises(RuntimeError, match="2 elements cannot be converted to Scalar"):
        torch.ones(2).item()


def test_numpy_shares_memory():
    x = torch.zeros(3)
    a = x.numpy()
    a[0] = 5.0
    assert x[0].item() == 5.0
    b = np.arange(6.0).reshape(2, 3)
    t = torch.from_numpy(b)
    b[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t[1, 1] = -1.0
    assert b[1, 1] == -1.0
    assert torch.from_numpy(b.T).tolist() == b.T.tolist()
    assert np.asarray(torch.ones(2, 2)).shape == (2, 2)
    assert_close(torch.ones(3, 4).t().numpy(), np.ones((4, 3)))
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.ones(2, requires_grad=True).numpy()
    with pytest.raises(ValueError, match="negative"):
        torch.from_numpy(b[::-1])
    with pytest.raises(TypeError):
        torch.from_numpy(np.ones(2, dtype=np.complex64))
    assert torch.as_tensor(b).data_ptr() == b.ctypes.data


def test_creation_functions():
    assert torch.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert torch.ones((2,), dtype=torch.int64).tolist() == [1, 1]
    assert torch.full((2, 2), 7).dtype == torch.int64 and torch.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert torch.empty(3).shape == (3,)
    assert torch.arange(5).tolist() == [0, 1, 2, 3, 4] and torch.arange(5).dtype == torch.int64
    assert_close(torch.arange(1, 2, 0.25), np.arange(1, 2, 0.25))
    assert torch.arange(0, 1, 0.5).dtype == torch.float32
    assert_close(torch.linspace(0, 1, 5), np.linspace(0, 1, 5))
    assert torch.linspace(-1, 1, 7)[-1].item() == 1.0
    assert_close(torch.eye(3, 2), np.eye(3, 2))
    x = torch.ones(2, 3, dtype=torch.float64)
    assert torch.zeros_like(x).dtype == torch.float64 and torch.ones_like(x).shape == (2, 3)
    assert torch.full_like(x, 3).tolist() == [[3.0] * 3] * 2
    assert torch.rand_like(x).dtype == torch.float64 and torch.randn_like(x).shape == (2, 3)
    with pytest.raises(RuntimeError, match="negative dimension"):
        torch.zeros(-1)


def test_random_is_seeded_and_distributed():
    torch.manual_seed(123)
    a = torch.randn(1000)
    torch.manual_seed(123)
    b = torch.randn(1000)
    assert torch.equal(a, b)
    assert abs(a.mean().item()) < 0.15 and abs(a.std().item() - 1) < 0.1
    u = torch.rand(1000)
    assert (u >= 0).all().item() and (u < 1).all().item() and abs(u.mean().item() - 0.5) < 0.05
    r = torch.randint(3, 7, (500,))
    assert r.dtype == torch.int64 and r.min().item() == 3 and r.max().item() == 6
    assert torch.randint(5, (3,)).shape == (3,)
    p = torch.randperm(10)
    assert sorted(p.tolist()) == list(range(10))
    with pytest.raises(RuntimeError):
        torch.randn(2, dtype=torch.int64)


def test_device_argument():
    assert torch.zeros(2, device="cpu").device == torch.device("cpu")
    assert str(torch.ones(1).device) == "cpu"
    assert torch.device("cuda:0").type == "gpu"
    if torch.cuda.is_available():
        assert torch.zeros(2, device="cuda").device == torch.device("gpu:0")
    else:
        with pytest.raises(RuntimeError, match="not available"):
            torch.zeros(2, device="cuda")


def test_repr_like_pytorch():
    assert repr(torch.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(torch.tensor([1.5, 2.25])) == "tensor([1.5000, 2.2500])"
    assert repr(torch.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(torch.tensor(3.5)) == "tensor(3.5000)"
    assert repr(torch.tensor([True])) == "tensor([True])"
    assert repr(torch.tensor([1.0], dtype=torch.float64)) == "tensor([1.], dtype=torch.float64)"
    assert repr(torch.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(torch.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert "..." in repr(torch.zeros(2000))
    assert repr(torch.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(torch.ones(2, 3).shape) == "torch.Size([2, 3])"
    assert repr(torch.float32) == "torch.float32" and str(torch.ones(1).dtype) == "torch.float32"


def test_deepcopy_and_pickle():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = copy.deepcopy(x)
    assert y.requires_grad and y.tolist() == [1.0, 2.0] and not y._same_storage(x)
    z = pickle.loads(pickle.dumps(torch.arange(4).view(2, 2)))
    assert z.tolist() == [[0, 1], [2, 3]]


def test_absurd_allocation_raises():
    with pytest.raises(RuntimeError):
        torch.zeros(2 ** 40, 2 ** 30)
    with pytest.raises(RuntimeError):
        torch.empty(1 << 62)


def test_int64_to_float32_rounds_once():
    v = 2 ** 62 + 2 ** 38 + 1
    assert torch.tensor([v]).float().item() == float(np.float32(np.int64(v)))
