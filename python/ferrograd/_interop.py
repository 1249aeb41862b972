"""numpy interop: an arithmetic or comparison operator between a Tensor and a numpy array gives
a Tensor, with the array on either side, and stays on the autograd tape (TensorFlow's and
Keras's behaviour; PyTorch raises instead).

The Rust operators take tensors, Python numbers and numpy scalars and answer NotImplemented for
an array, so Python turns to the array's reflected operator, which calls the matching numpy
ufunc; numpy hands that ufunc to `Tensor.__array_ufunc__` below. The array is converted as
`keras.ops.convert_to_tensor` converts it (a copy keeping its dtype, narrow ints widened to
int64) onto the tensor's device, and the operator runs on tensors. Operator calls between
tensors never come here, so their speed is unchanged.

Other ufuncs (`np.exp(t)`, reductions, in-place `out=`) keep numpy's behaviour: the tensor is
converted through `__array__`, which refuses a tensor that requires grad, so a gradient is never
dropped silently.
"""
import numpy as np

from . import _core
from ._core import Tensor
from ._registry import op

# The ufuncs behind Python's operators, as ferrograd binary op names.
_OP_OF_UFUNC = {
    np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
    np.floor_divide: "floor_divide", np.remainder: "remainder", np.power: "pow", np.matmul: "matmul",
    np.less: "lt", np.less_equal: "le", np.greater: "gt", np.greater_equal: "ge", np.equal: "eq",
    np.not_equal: "ne", np.bitwise_and: "bitwise_and", np.bitwise_or: "bitwise_or",
    np.bitwise_xor: "bitwise_xor",
}


def _to_tensor_on(x, device):
    """An array operand as a tensor on `device`; numbers and 0-d values stay scalars, as they
    are when they meet a tensor directly (they do not promote its dtype)."""
    if isinstance(x, np.ndarray) and x.ndim > 0:
        from ._tensor import tensor
        return tensor(x, device=device)
    return x


@op(function=False)
def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
    op = _OP_OF_UFUNC.get(ufunc)
    if op is None or method != "__call__" or kwargs or len(inputs) != 2:
        arrays = [np.asarray(x) if isinstance(x, Tensor) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, Tensor) else o for o in kwargs["out"])
        return getattr(ufunc, method)(*arrays, **kwargs)
    device = next(x.device for x in inputs if isinstance(x, Tensor))
    a, b = (_to_tensor_on(x, device) for x in inputs)
    if op == "matmul":
        from ._tensor import matmul
        return matmul(a, b)
    return _core.binary(a, b, op)
