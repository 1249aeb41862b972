"""The tensor API's registry (ferrograd/_registry.py): it alone produces the `ferrograd.<name>`
functions, `__all__`, the Tensor methods and the in-place `name_` variants; the unary ops are
those of the Rust op table; a name ending in `_` is an in-place op that PyTorch has too."""
import inspect
import os

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
from ferrograd import _core, _registry

NAMES_FILE = os.path.join(os.path.dirname(__file__), "data", "torch_trailing_underscore_names.txt")
NAMESPACES = {"torch": torch, "Tensor": torch.Tensor, "nn.functional": F}


def test_package_functions_and_all_come_from_the_registry():
    for name, fn in _registry.FUNCTIONS.items():
        assert getattr(torch, name) is fn, name
        assert name in torch.__all__, name


def test_methods_are_plain_class_attributes():
    # A registered method is found in the class dict: no __getattr__ on the call path.
    assert "__getattr__" not in vars(torch.Tensor)
    for name, value in _registry.METHODS.items():
        assert vars(torch.Tensor)[name] is value, name


def test_unary_ops_of_the_rust_table_are_functions_methods_and_in_place():
    rng = np.random.default_rng(0)
    for name in _registry.UNARY_NAMES:
        data = rng.integers(-5, 5, (3, 4)) if name == "bitwise_not" else rng.uniform(0.1, 0.9, (3, 4))
        x = torch.tensor(data)
        want = _core.unary(x, name).numpy()
        np.testing.assert_array_equal(getattr(torch, name)(x).numpy(), want, err_msg=name)
        np.testing.assert_array_equal(getattr(x, name)().numpy(), want, err_msg=name)
        if name in _registry.INPLACE:
            y = x.clone()
            assert getattr(y, name + "_")() is y
            np.testing.assert_array_equal(y.numpy(), want.astype(data.dtype), err_msg=name + "_")


def _binary_in_place():
    """In-place ops whose function takes (input, other) and nothing else required."""
    out = []
    for name in _registry.INPLACE:
        fn = _registry.METHODS[name]
        required = [p for p in inspect.signature(fn).parameters.values()
                    if p.default is p.empty and p.kind is not p.VAR_POSITIONAL]
        if len(required) == 2:
            out.append(name)
    return out


@pytest.mark.parametrize("name", _binary_in_place())
def test_binary_in_place_writes_the_op_into_self(name):
    rng = np.random.default_rng(1)
    kind = np.int64 if name.startswith("bitwise") else np.float64
    a, b = (rng.uniform(0.5, 3.0, (2, 3)).astype(kind) for _ in range(2))
    x, y = torch.tensor(a), torch.tensor(b)
    want = getattr(x, name)(y)
    out = x.clone()
    assert getattr(out, name + "_")(y) is out
    np.testing.assert_array_equal(out.numpy(), want.numpy().astype(kind))


def test_augmented_assignment_is_the_in_place_method():
    x = torch.tensor([1.0, 2.0])
    before = x
    x += 1
    x *= torch.tensor([2.0, 3.0])
    x **= 2
    assert x is before and x.tolist() == [16.0, 81.0]


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(RuntimeError, match="'add' is registered twice"):
        _registry.op("add")(lambda input, other: input)


def _torch_trailing_underscore_names():
    with open(NAMES_FILE) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("label", list(NAMESPACES))
def test_trailing_underscore_names_are_pytorch_in_place_ops(label):
    """A public name ending in `_` promises an in-place op; PyTorch must have it under that name."""
    torch_names = _torch_trailing_underscore_names()
    ours = {f"{label}.{n}" for n in dir(NAMESPACES[label]) if n.endswith("_") and not n.startswith("_")}
    assert sorted(ours - torch_names) == []
