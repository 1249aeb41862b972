"""The PyTorch-shaped Tensor API over the Rust core.

Each op is written once as a function here and registered by `@op` (see `_registry`), which
makes it a `Tensor` method, a `ferrograd.<name>` function and, for in-place ops, `Tensor.<name>_`.
Argument parsing lives here, math in Rust.
"""
import builtins
import collections
import functools
import numbers

import numpy as np

from . import _core
from ._core import Tensor
from ._device import CPU, _creating, check_device, default_device, device
from ._dtype import (bfloat16, bool_, dtype, finfo, float16, float32, float64, from_name, from_numpy_dtype,
                     get_default_dtype, iinfo, int8, int16, int32, int64, to_dtype, uint8)
from . import _registry
from ._registry import UNARY_NAMES, op, tensor_attribute, tensor_property

_py_bool, _py_int, _py_float, _py_max, _py_min, _py_sum, _py_abs = (
    builtins.bool, builtins.int, builtins.float, builtins.max, builtins.min, builtins.sum, builtins.abs)


class Size(tuple):
    """`tensor.shape`: a tuple of ints, printed as PyTorch prints it."""

    def __repr__(self):
        return f"torch.Size({list(self)})"

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


ReturnMax = collections.namedtuple("max", ["values", "indices"])
ReturnMin = collections.namedtuple("min", ["values", "indices"])
ReturnSort = collections.namedtuple("sort", ["values", "indices"])
ReturnTopk = collections.namedtuple("topk", ["values", "indices"])
ReturnMedian = collections.namedtuple("median", ["values", "indices"])
ReturnKthvalue = collections.namedtuple("kthvalue", ["values", "indices"])


# ---------------------------------------------------------------------------- argument helpers

def _shape_arg(size):
    """Accepts f(2, 3), f((2, 3)), f([2, 3]) and f(Size)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (numbers.Integral,)) or isinstance(s, _py_bool):
            raise TypeError(f"size must be a sequence of ints, but got {type(s).__name__}")
        out.append(_py_int(s))
    return out


def _creation_shape(size):
    shape = _shape_arg(size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {shape}")
    return shape


def _dims(dim):
    """None, an int, or a sequence of ints -> None or a list."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        return [_py_int(d) for d in dim]
    return [_py_int(dim)]


def _reduce_dims(dim):
    """A reduction's dims: as `_dims`, but an empty list means every dim, as in PyTorch."""
    return _dims(dim) or None


def _as_tensor_operand(x, like=None):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (numbers.Number, np.generic)):
        return x
    return tensor(x)


def _dname(d):
    return to_dtype(d).name


def _is_scalar(x):
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, Tensor)


# ---------------------------------------------------------------------------- creation

def _on_device(fn=None, *, like=False, fills_on_device=False):
    """Wraps a creation function: `device=` (default: `like`'s tensor's device, else the
    default device) places the result there as a leaf, keeping `requires_grad`. A function
    that `fills_on_device` is passed the device and makes its tensor there (no host copy)."""
    if fn is None:
        return functools.partial(_on_device, like=like, fills_on_device=fills_on_device)

    @functools.wraps(fn)
    def wrapper(*args, device=None, **kwargs):
        if device is None:
            device = args[0].device if like and args and isinstance(args[0], Tensor) else default_device()
        d = check_device(device)
        if fills_on_device:
            kwargs["device"] = d
        _creating.depth = getattr(_creating, "depth", 0) + 1
        try:
            out = fn(*args, **kwargs)
        finally:
            _creating.depth -= 1
        if d.type != "cpu" and isinstance(out, Tensor) and out._device != str(d):
            rg = out.requires_grad
            out = _core.to_device(out.detach(), str(d))
            if rg:
                out.requires_grad_(True)
        return out
    return wrapper


def _infer_np(data, dtype):
    """numpy array from nested Python data with PyTorch's inference (floats -> default dtype)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        arr = data
    else:
        flat = data
        if isinstance(data, (list, tuple)):
            flat = [_tensor_to_py(v) for v in data] if builtins.any(isinstance(v, Tensor) for v in data) else data
        if isinstance(flat, np.generic):
            from_numpy_dtype(flat.dtype)  # TypeError for a numpy type without a ferrograd dtype
        try:
            arr = np.array(flat)
        except ValueError as e:
            raise ValueError(f"could not build a tensor from {type(data).__name__}: {e}") from None
        if arr.dtype.kind == "f" and arr.size and np.abs(arr).max() >= 2.0**63 and _has_int_beyond_int64(flat):
            raise ValueError(f"value cannot be converted to type int64 without overflow: {data!r}"[:300])
        if arr.dtype == object or arr.dtype == np.uint64:
            # numpy falls back to uint64 or object for Python ints beyond int64.
            if _has_int_beyond_int64(flat):
                raise ValueError(f"value cannot be converted to type int64 without overflow: {data!r}"[:300])
            raise TypeError(f"can't build a tensor from nested data of mixed or unsupported types: {data!r}"[:300])
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(get_default_dtype()._np)
        if arr.dtype.kind in "US":
            raise TypeError(f"new(): invalid data type '{arr.dtype.kind == 'U' and 'str' or 'bytes'}'")
    return arr


def _has_int_beyond_int64(data):
    if isinstance(data, (list, tuple)):
        return builtins.any(_has_int_beyond_int64(v) for v in data)
    return isinstance(data, numbers.Integral) and not -2**63 <= data < 2**63


# The C++ type names of PyTorch's overflow messages.
_C_TYPE = {"float32": "float", "float64": "double", "float16": "at::Half", "bfloat16": "at::BFloat16",
           "int64": "int64_t", "uint8": "uint8_t"}


def _check_fill_value(value, d):
    """PyTorch's RuntimeError for a fill value the dtype cannot hold (NaN or inf as an integer,
    an int beyond int64, a finite float beyond float32's range)."""
    if isinstance(value, _py_bool) or not isinstance(value, numbers.Number):
        return
    if d.is_floating_point:
        if np.isfinite(value) and _py_abs(value) > finfo(d).max:
            raise RuntimeError(f"value cannot be converted to type {_C_TYPE.get(d.name, d.name)} without overflow: {value}")
    elif d is not bool_:
        info = iinfo(d)
        if not np.isfinite(value) or not info.min <= value <= info.max:
            raise RuntimeError(f"value cannot be converted to type {_C_TYPE.get(d.name, d.name + '_t')} without overflow: {value}")


def _tensor_to_py(v):
    if isinstance(v, Tensor):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_tensor_to_py(x) for x in v]
    return v


@op(method=False)
@_on_device
def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, numpy arrays, tensors)."""
    check_device(device)
    if isinstance(data, Tensor):
        out = data.detach().clone()
        if dtype is not None:
            out = out.to(dtype)
    else:
        arr = _infer_np(data, dtype)
        if dtype is not None:
            target = to_dtype(dtype)
        elif arr.dtype.kind == "f" and not isinstance(data, np.ndarray):
            target = get_default_dtype()  # Python floats (which _infer_np gave the default's numpy type)
        else:
            target = from_numpy_dtype(arr.dtype)
        if target is int64 and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise RuntimeError("value cannot be converted to type int64 without overflow: NaN or inf in the data")
        out = _array_as(_valid_bools(arr), target)
    if requires_grad:
        out.requires_grad_(True)
    return out


@op(method=False)
@_on_device
def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a tensor or numpy array when it can."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or to_dtype(dtype)._np == data.dtype):
        try:
            return from_numpy(data)
        except (TypeError, ValueError):
            pass
    return tensor(data, dtype=dtype)


@op(method=False)
def from_numpy(arr) -> Tensor:
    """A tensor sharing memory with the numpy array `arr` (a bool array holding bytes other
    than 0 and 1, e.g. a view of uint8 data, is copied as 0/1 instead)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return _core.from_numpy(_valid_bools(arr))


def _valid_bools(arr):
    """`arr`, or a 0/1 copy of a bool array whose bytes are not all 0 or 1 (Rust's bool must be)."""
    if arr.dtype == np.bool_ and arr.size and (arr.view(np.uint8) > 1).any():
        return arr.view(np.uint8) != 0
    return arr


def _fill(size, value, dtype, device, requires_grad, default):
    dev = check_device(device)
    d = to_dtype(dtype) if dtype is not None else default
    _check_fill_value(value, d)
    if isinstance(value, numbers.Integral) and not isinstance(value, _py_bool) and d.is_signed and not d.is_floating_point:
        # Exact for integers beyond float64's 53 bits.
        out = _core.full_int(_creation_shape(size), _py_int(value))
        out = out if d is int64 else out.to(d)
    else:
        # Filled where it will live: a GPU tensor is never made (nor size-checked) on the host.
        out = _core.full(_creation_shape(size), _py_float(value), d.name, str(dev))
    if requires_grad:
        out.requires_grad_(True)
    return out


@op(method=False)
@_on_device(fills_on_device=True)
def zeros(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _fill(size, 0, dtype, device, requires_grad, get_default_dtype())


@op(method=False)
@_on_device(fills_on_device=True)
def ones(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _fill(size, 1, dtype, device, requires_grad, get_default_dtype())


@op(method=False)
@_on_device(fills_on_device=True)
def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None, out=None) -> Tensor:
    return _fill(size, 0, dtype, device, requires_grad, get_default_dtype())


def _scalar_dtype(v):
    if isinstance(v, (_py_bool, np.bool_)):
        return bool_
    if isinstance(v, numbers.Integral):
        return int64
    return get_default_dtype()


@op(method=False)
@_on_device(fills_on_device=True)
def full(size, fill_value, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    if not isinstance(size, (tuple, list, Size)):
        raise TypeError(f"full(): argument 'size' must be tuple of ints, but found element of type {type(size).__name__}")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _fill((size,) if not isinstance(size, (tuple, list)) else (tuple(size),), fill_value,
                 dtype, device, requires_grad, _scalar_dtype(fill_value))


@op(method=False)
@_on_device(like=True)
def zeros_like(x, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


@op(method=False)
@_on_device(like=True)
def ones_like(x, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


@op(method=False)
@_on_device(like=True)
def empty_like(x, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


@op(method=False)
@_on_device(like=True)
def full_like(x, fill_value, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return full(tuple(x.shape), fill_value, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


def _float_dtype(dtype, op):
    d = to_dtype(dtype) if dtype is not None else get_default_dtype()
    if not d.is_floating_point:
        raise NotImplementedError(f"\"{op}\" not implemented for '{d.name}'; use a floating point dtype")
    return d




def _require_float(input, op):
    """PyTorch's NotImplementedError for an op that has only floating-point kernels."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"{op}\" not implemented for '{input.dtype._titled}'")


def _from_generator(generator, draw, shape, dtype):
    """Values drawn from a `ferrograd.Generator` (its own stream, not the global one)."""
    arr = draw(generator._rng, tuple(shape))
    return _array_as(arr, dtype)


def _array_as(arr, d):
    """A new tensor of dtype `d` holding a copy of numpy data `arr` (bfloat16 through float32,
    which holds its values, where numpy lacks ml_dtypes' bfloat16)."""
    out = _core.from_numpy(np.array(arr, dtype=d._np, order="C", copy=True))
    return out if d._np_exact else out.to(d)


def _random_float(size, dtype, device, requires_grad, generator, kernel_name, draw, core_fill):
    """rand/randn: from `generator`'s own stream when given, else from the global Rust one."""
    check_device(device)
    d = _float_dtype(dtype, kernel_name)
    shape = _creation_shape(size)
    out = _from_generator(generator, draw, shape, d) if generator is not None else core_fill(shape, d.name)
    return out.requires_grad_(True) if requires_grad else out


@op(method=False)
@_on_device
def rand(*size, dtype=None, device=None, requires_grad=False, generator=None, out=None) -> Tensor:
    return _random_float(size, dtype, device, requires_grad, generator, "check_uniform_bounds",
                         lambda r, s: r.random(s), lambda shape, d: _core.rand_uniform(shape, 0.0, 1.0, d))


@op(method=False)
@_on_device
def randn(*size, dtype=None, device=None, requires_grad=False, generator=None, out=None) -> Tensor:
    return _random_float(size, dtype, device, requires_grad, generator, "normal_kernel_cpu",
                         lambda r, s: r.standard_normal(s), lambda shape, d: _core.rand_normal(shape, 0.0, 1.0, d))


@op(method=False)
@_on_device
def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    check_device(device)
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if generator is not None:
        return _from_generator(generator, lambda r, s: r.integers(low, high, s), _creation_shape((tuple(size),)), to_dtype(dtype or int64))
    return _core.randint(_py_int(low), _py_int(high), _creation_shape((tuple(size),)), _dname(dtype or int64))


@op(method=False)
@_on_device
def randperm(n, dtype=None, device=None, generator=None, requires_grad=False) -> Tensor:
    check_device(device)
    if n < 0:
        raise RuntimeError(f"randperm(): n must be non-negative, got {n}")
    if generator is not None:
        out = _from_generator(generator, lambda r, s: r.permutation(_py_int(n)), (), int64)
    else:
        out = _core.randperm(_py_int(n))
    return out if dtype is None else out.to(dtype)


@op(method=False)
@_on_device(like=True)
def rand_like(x, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return rand(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


@op(method=False)
@_on_device(like=True)
def randn_like(x, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return randn(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


@op(method=False)
@_on_device(like=True)
def randint_like(x, low=0, high=None, dtype=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(x.shape), dtype=dtype or x.dtype)


@op(method=False)
def manual_seed(seed):
    _core.manual_seed(_py_int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    return None


@op(method=False)
def seed():
    import time
    s = time.time_ns() & 0xFFFF_FFFF_FFFF_FFFF
    _core.manual_seed(s)
    return s


@op(method=False)
@_on_device
def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        is_int = builtins.all(isinstance(v, numbers.Integral) for v in vals)
        dtype = int64 if is_int else get_default_dtype()
    if to_dtype(dtype) is bool_:
        raise NotImplementedError("\"arange_cpu\" not implemented for 'Bool'")
    if builtins.all(isinstance(v, numbers.Integral) for v in vals) and to_dtype(dtype) is int64:
        # Exact for any int64 bounds: count with Python ints, then offset int64 positions.
        start, end, step = (_py_int(v) for v in vals)
        if step == 0:
            raise RuntimeError("step must be nonzero")
        if (step > 0 and end < start) or (step < 0 and end > start):
            raise RuntimeError("upper bound and larger bound inconsistent with step sign")
        n = -((start - end) // step)
        out = _core.arange(0.0, _py_float(n), 1.0, "int64") * step + start
    else:
        out = _core.arange(_py_float(vals[0]), _py_float(vals[1]), _py_float(vals[2]), _dname(dtype))
    return out.requires_grad_(True) if requires_grad else out


@op(method=False)
@_on_device
def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    check_device(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    out = _core.linspace(_py_float(start), _py_float(end), _py_int(steps), _dname(dtype or get_default_dtype()))
    return out.requires_grad_(True) if requires_grad else out


@op(method=False)
@_on_device
def eye(n, m=None, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    check_device(device)
    if n < 0 or (m is not None and m < 0):
        raise RuntimeError(f"n and m must be non-negative, got n={n}, m={m}")
    out = _core.eye(_py_int(n), _py_int(n if m is None else m), _dname(dtype or get_default_dtype()))
    return out.requires_grad_(True) if requires_grad else out


# ---------------------------------------------------------------------------- properties & conversion

@tensor_property("shape")
def _shape(self) -> Size:
    return Size(self._shape)


@op(function=False)
def size(self, dim=None):
    if dim is None:
        return Size(self._shape)
    return self._shape[_wrap(dim, self.ndim)]


@op(function=False)
def stride(self, dim=None):
    s = self._strides()
    return s if dim is None else s[_wrap(dim, self.ndim)]


def _wrap(dim, n):
    n1 = _py_max(n, 1)
    if not -n1 <= dim < n1:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n1}, {n1 - 1}], but got {dim})")
    return dim % n1


@tensor_property("dtype")
def _dtype_prop(self):
    return from_name(self._dtype)


@tensor_property("device")
def _device_prop(self):
    d = self._device
    return CPU if d == "cpu" else device(d)


@tensor_property("is_cuda")
def _is_cuda(self):
    return self._device != "cpu"


@tensor_property("is_cpu")
def _is_cpu(self):
    return self._device == "cpu"


@tensor_property("layout")
def _layout(self):
    return "strided"


# numpy leaves mixed expressions to the Tensor's operators (see _interop).
tensor_attribute("__array_priority__", 1000)


@op()
def is_floating_point(self):
    return self._dtype in ("float32", "float64")


@op(function=False)
def numpy(self, force=False):
    if self.requires_grad and not force:
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
    return self._numpy()


@op(function=False)
def __array__(self, dtype=None, copy=None):
    arr = self.numpy()
    if dtype is not None:
        arr = arr.astype(dtype)
    return arr


@op(function=False)
def tolist(self):
    flat = self._flat_list()
    shape = self._shape
    if not shape:
        return flat[0]

    def nest(items, dims):
        if len(dims) == 1:
            return items
        step = len(items) // dims[0] if dims[0] else 0
        return [nest(items[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])]

    return nest(flat, shape)


@op(function=False)
def __float__(self):
    return _py_float(self.item())


@op(function=False)
def __int__(self):
    return _py_int(self.item())


@op(function=False)
def __index__(self):
    if self._dtype not in ("int64", "bool") or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return _py_int(self.item())


@op(function=False)
def __bool__(self):
    if self.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
    return _py_bool(self.item())


@op(function=False)
def __iter__(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self.select(0, i) for i in range(self._shape[0]))


@op(function=False)
def __contains__(self, element):
    return _py_bool((self == element).any().item())


@op(function=False)
def __reduce_ex__(self, protocol):
    return (_rebuild, (type(self), self.detach().cpu().numpy().copy(), self.requires_grad, str(self.device)))


def _rebuild(cls, arr, requires_grad, device="cpu"):
    t = _core.from_numpy(arr)
    if device != "cpu":
        t = _core.to_device(t, str(check_device(device)))
    if cls is not Tensor:
        t = cls(t, requires_grad) if requires_grad is not None else cls(t)
    elif requires_grad:
        t.requires_grad_(True)
    return t


@op(function=False)
def __deepcopy__(self, memo):
    if id(self) in memo:
        return memo[id(self)]
    data = self.detach().clone()
    if type(self) is not Tensor:
        out = type(self)(data, self.requires_grad)
    else:
        out = data.requires_grad_(self.requires_grad) if self.is_leaf else data
    if self.grad is not None:
        out.grad = self.grad.detach().clone()
    memo[id(self)] = out
    return out


def _to_arguments(args, kwargs):
    """(device, dtype, non_blocking) from `to`'s arguments as Tensor.to and Module.to take them:
    `to(device)`, `to(dtype)`, `to(device, dtype)`, `to(tensor)` or those keywords."""
    target_device = kwargs.pop("device", None)
    target_dtype = kwargs.pop("dtype", None)
    non_blocking = kwargs.pop("non_blocking", False)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() received an invalid combination of arguments - got unexpected keyword(s) {list(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            target_device, target_dtype = a.device, a.dtype
        elif isinstance(a, (str, device)):
            target_device = a
        elif isinstance(a, _py_bool):
            non_blocking = a
        elif a is not None:
            target_dtype = a
    return target_device, target_dtype, non_blocking


@op(function=False)
def to(self, *args, **kwargs):
    """`to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)`; copy=True forces a copy."""
    copy = kwargs.pop("copy", False)
    target_device, target_dtype, _ = _to_arguments(args, kwargs)
    target_device = check_device(target_device) if target_device is not None else None
    moving = target_device is not None and str(target_device) != self._device
    want = to_dtype(target_dtype).name if target_dtype is not None else None
    out = self
    # Casts run where float32 kernels are sure to exist: on the CPU side of a transfer.
    if moving and target_device.type == "cpu":
        out = _core.to_device(out, "cpu")
    if want is not None and want != out._dtype:
        out = _core.to_dtype(out, want)
    if moving and target_device.type != "cpu":
        out = _core.to_device(out, str(target_device))
    if copy and out is self:
        out = self.clone()
    return out


@op(function=False)
def cpu(self, memory_format=None):
    return self if self._device == "cpu" else _core.to_device(self, "cpu")


@op(function=False)
def cuda(self, device=None, non_blocking=False, memory_format=None):
    return self.to("gpu" if device is None else device)


@op(function=False)
def gpu(self, device=None, non_blocking=False, memory_format=None):
    return self.to("gpu" if device is None else device)


@op("type", function=False)
def _type(self, dtype=None, non_blocking=False):
    if dtype is None:
        return "torch." + self.dtype._legacy
    return self.to(dtype)


@op(function=False)
def type_as(self, other):
    return self.to(other.dtype)


def _cast_method(name, target):
    def cast(self, memory_format=None):
        return self.to(target)
    cast.__name__ = cast.__qualname__ = name
    cast.__doc__ = f"`self.to({target})`."
    op(name, function=False)(cast)


# `.float()`, `.half()`, `.int()` (int32, as PyTorch), `.byte()`, ... and `.bfloat16()`.
for _name, _target in {"float": float32, "double": float64, "half": float16, "bfloat16": bfloat16, "long": int64,
                       "int": int32, "short": int16, "char": int8, "byte": uint8, "bool": bool_}.items():
    _cast_method(_name, _target)


@op(function=False)
def requires_grad_(self, requires_grad=True):
    self.requires_grad = requires_grad
    return self


@op()
def clone(self, memory_format=None):
    return _core.clone(self)


@op(function=False)
def contiguous(self, memory_format=None):
    return _core.contiguous(self)


@op(function=False)
def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


@op(function=False)
def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


@op(function=False)
def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


@op(function=False)
def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


@op(function=False)
def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


# ---------------------------------------------------------------------------- arithmetic

def _binary(name):
    def binary_op(input, other, *, out=None) -> Tensor:
        _no_out(out)
        return _core.binary(input, other, name)
    binary_op.__name__ = binary_op.__qualname__ = name
    return binary_op


def _no_out(out):
    if out is not None:
        raise NotImplementedError("the out= argument is not supported by ferrograd")


@op(inplace=True, operators=("__iadd__",))
def add(input, other, *, alpha=1, out=None):
    _no_out(out)
    if alpha != 1:
        other = _core.binary(other, alpha, "mul")
    return _core.binary(input, other, "add")


@op("sub", "subtract", inplace=True, operators=("__isub__",))
def sub(input, other, *, alpha=1, out=None):
    _no_out(out)
    if alpha != 1:
        other = _core.binary(other, alpha, "mul")
    return _core.binary(input, other, "sub")


@op(function=False)
def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


@op("div", "divide", inplace=True, operators=("__itruediv__",))
def div(input, other, *, rounding_mode=None, out=None):
    _no_out(out)
    if rounding_mode is None:
        return _core.binary(input, other, "div")
    if rounding_mode == "floor":
        return _core.binary(input, other, "floor_divide")
    if rounding_mode == "trunc":
        return _core.binary(input, other, "div_trunc")
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


mul = op("mul", "multiply", inplace=True, operators=("__imul__",))(_binary("mul"))
true_divide = op("true_divide", inplace=True)(_binary("div"))
floor_divide = op(inplace=True, operators=("__ifloordiv__",))(_binary("floor_divide"))
remainder = op(inplace=True, operators=("__imod__",))(_binary("remainder"))
maximum = op()(_binary("maximum"))
minimum = op()(_binary("minimum"))
atan2 = op(inplace=True)(_binary("atan2"))
eq = op(inplace=True)(_binary("eq"))
ne = op("ne", "not_equal", inplace=True)(_binary("ne"))
lt = op("lt", "less", inplace=True)(_binary("lt"))
le = op("le", "less_equal", inplace=True)(_binary("le"))
gt = op("gt", "greater", inplace=True)(_binary("gt"))
ge = op("ge", "greater_equal", inplace=True)(_binary("ge"))
logical_and = op(inplace=True)(_binary("logical_and"))
logical_or = op(inplace=True)(_binary("logical_or"))
logical_xor = op()(_binary("logical_xor"))
bitwise_and = op(inplace=True, operators=("__iand__",))(_binary("bitwise_and"))
bitwise_or = op(inplace=True, operators=("__ior__",))(_binary("bitwise_or"))
bitwise_xor = op(inplace=True, operators=("__ixor__",))(_binary("bitwise_xor"))


@op(inplace=True, operators=("__ipow__",))
def pow(input, exponent, *, out=None):
    _no_out(out)
    return _core.binary(input, exponent, "pow")


fmod = op(inplace=True)(_binary("fmod"))


def _unary(name):
    def unary_op(input, *, out=None) -> Tensor:
        _no_out(out)
        return _core.unary(input, name)
    unary_op.__name__ = unary_op.__qualname__ = name
    return unary_op


@op(inplace=True)
def round(input, decimals=0, *, out=None):
    _no_out(out)
    if decimals != 0:
        _require_float(input, "round")
    if decimals == 0:
        return _core.unary(input, "round")
    scale = 10.0 ** decimals
    return _core.unary(input * scale, "round") / scale


@op(inplace=True)
def logit(input, eps=None, *, out=None):
    _no_out(out)
    if eps is not None:
        input = input.clamp(eps, 1.0 - eps)
    return _core.unary(input, "logit")


# Every other unary op of the Rust table, generated: PyTorch's second names for some, and no
# in-place form for the predicates, whose result is bool. An op with arguments beyond the input
# (as `round`'s decimals) is written above with @op, and the loop leaves it alone.
_UNARY_ALIASES = {"neg": ("negative",), "abs": ("absolute",), "asin": ("arcsin",), "acos": ("arccos",),
                  "atan": ("arctan",), "trunc": ("fix",)}
_PREDICATES = ("isnan", "isinf", "isfinite")
for _name in UNARY_NAMES:
    if _name not in _registry.FUNCTIONS:
        op(_name, *_UNARY_ALIASES.get(_name, ()), inplace=_name not in _PREDICATES)(_unary(_name))
del _name


@op()
def exp2(input):
    return pow(2.0, input)


@op()
def erfc(input):
    return 1 - _core.unary(input, "erf")


@op()
def positive(input):
    if input.dtype is bool_:
        raise NotImplementedError("The `+` operator, on a bool tensor is not supported.")
    return input


@op()
def signbit(input):
    """True where the sign bit is set (so also for -0.0)."""
    if not input.is_floating_point():
        return input < 0
    return (input < 0) | ((input == 0) & (1 / input < 0))


@op()
def isposinf(input):
    return input == float("inf") if input.is_floating_point() else zeros_like(input, dtype=bool_)


@op()
def isneginf(input):
    return input == float("-inf") if input.is_floating_point() else zeros_like(input, dtype=bool_)


@op()
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by `nan` and (by default) the dtype's largest/lowest finite
    values; integer and bool tensors come back unchanged (a copy)."""
    if not input.is_floating_point():
        return input.clone()
    big = finfo(input.dtype).max
    out = where(input.isnan(), _py_float(nan), input)
    out = where(out == float("inf"), big if posinf is None else _py_float(posinf), out)
    return where(out == float("-inf"), -big if neginf is None else _py_float(neginf), out)


def _ignoring_nan(input, other, pick):
    """pick(input, other) where both are numbers, else the operand that is not NaN."""
    return where(_core.unary(other, "isnan"), input,
                 where(_core.unary(input, "isnan"), other, pick(input, other)))


@op()
def fmax(input, other):
    """maximum that ignores a NaN when the other operand is a number."""
    return _ignoring_nan(input, other, maximum)


@op()
def fmin(input, other):
    """minimum that ignores a NaN when the other operand is a number."""
    return _ignoring_nan(input, other, minimum)


def _float_result_dtype(a, b):
    """The floating dtype PyTorch's promotion gives two tensors (the default float for ints)."""
    if float64 in (a.dtype, b.dtype):
        return float64
    return a.dtype if a.is_floating_point() else b.dtype if b.is_floating_point() else get_default_dtype()


@op()
def hypot(input, other):
    """sqrt(a^2 + b^2) without overflow or underflow in the squares; inf if either is inf."""
    if not (input.is_floating_point() or other.is_floating_point()):
        _require_float(input, "hypot")
    dt = _float_result_dtype(input, other)
    a, b = _core.unary(input.to(dt), "abs"), _core.unary(other.to(dt), "abs")
    big, small = maximum(a, b), minimum(a, b)
    ratio = where(big == 0, 0.0, small / where(big == 0, 1.0, big))
    out = big * _core.unary(1 + ratio * ratio, "sqrt")
    return where(_core.unary(a, "isinf") | _core.unary(b, "isinf"), float("inf"), out)


@op()
def copysign(input, other):
    """|input| with the sign of `other` (its sign bit, so -0.0 counts as negative); floats out."""
    magnitude = _core.unary(input.to(_float_result_dtype(input, other)), "abs")
    return where(signbit(other), -magnitude, magnitude)


@op("clamp", "clip", inplace=True)
def clamp(input, min=None, max=None, *, out=None):
    _no_out(out)
    integral = not input.is_floating_point() and builtins.all(
        v is None or isinstance(v, numbers.Integral) for v in (min, max))
    if isinstance(min, Tensor) or isinstance(max, Tensor) or (integral and (min, max) != (None, None)):
        # Tensor bounds, or integer bounds on an integer tensor (exact, no float64 detour).
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return _core.clamp(input, None if min is None else _py_float(min), None if max is None else _py_float(max))



@op(inplace=True)
def clamp_min(input, min):
    return clamp(input, min=min)


@op(inplace=True)
def clamp_max(input, max):
    return clamp(input, max=max)


@op(inplace=True)
def lerp(input, end, weight):
    if isinstance(end, Tensor) and end.dtype is not input.dtype:
        raise RuntimeError(f"expected dtype {input.dtype} for `end` but got dtype {end.dtype}")
    return input + weight * (end - input)


@op()
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    other = other if isinstance(other, Tensor) else tensor(other, dtype=input.dtype, device=input.device)
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype} did not match {other.dtype}")
    a, b = input, other
    if not input.is_floating_point():  # integers compare in the widest float the device has
        wide = float64 if input._device == "cpu" else float32
        a, b = input.to(wide), other.to(wide)
    close = (a - b).abs() <= atol + rtol * b.abs()
    close = close | (a == b)
    if equal_nan:
        close = close | (a.isnan() & b.isnan())
    return close


@op()
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _py_bool(isclose(input, other, rtol, atol, equal_nan).all().item())


@op()
def equal(input, other):
    if tuple(input.shape) != tuple(other.shape):
        return False
    return _py_bool((input == other).all().item())


@op(method=False)
def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):
        condition = tensor(condition)
    return _core.where_(condition, input, other)


@op("where", function=False)
def _where_method(self, condition, other):
    """`x.where(condition, y)`: x where condition holds, else y."""
    return where(condition, self, other)


# ---------------------------------------------------------------------------- reductions

def _sum_dtype(input, dtype):
    return input if dtype is None else input.to(dtype)


@op()
def sum(input, dim=None, keepdim=False, *, dtype=None):
    return _core.sum(_sum_dtype(input, dtype), _dims(dim), keepdim)  # () reduces all: the core names it SumBackward1


@op()
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    if not input.is_floating_point():  # no NaN to skip; int and bool sum to int64
        return sum(input, dim, keepdim, dtype=dtype)
    return sum(where(input.isnan(), 0.0, input), dim, keepdim, dtype=dtype)


@op()
def mean(input, dim=None, keepdim=False, *, dtype=None):
    return _core.mean(_sum_dtype(input, dtype), _dims(dim), keepdim)  # as sum


@op()
def nanmean(input, dim=None, keepdim=False):
    _require_float(input, "nanmean")
    keep = ~input.isnan()
    return nansum(input, dim, keepdim) / keep.sum(dim, keepdim)


@op()
def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dim is not None and not isinstance(dim, numbers.Integral):
        raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__}")
    return _core.prod(_sum_dtype(input, dtype), _dims(dim), keepdim)


def _max_min(input, dim, keepdim, other, is_max):
    if isinstance(dim, Tensor):
        other, dim = dim, None
    if other is not None:
        return maximum(input, other) if is_max else minimum(input, other)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"{'max' if is_max else 'min'}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        return _core.max_all(input, is_max)
    v, i = _core.max_dim(input, _py_int(dim), keepdim, is_max)
    return (ReturnMax if is_max else ReturnMin)(v, i)


@op()
def max(input, dim=None, keepdim=False, *, other=None):
    return _max_min(input, dim, keepdim, other, True)


@op()
def min(input, dim=None, keepdim=False, *, other=None):
    return _max_min(input, dim, keepdim, other, False)


@op()
def amax(input, dim=(), keepdim=False):
    return _core.amax(input, _reduce_dims(dim), keepdim, True)


@op()
def amin(input, dim=(), keepdim=False):
    return _core.amax(input, _reduce_dims(dim), keepdim, False)


@op()
def aminmax(input, *, dim=None, keepdim=False):
    return amin(input, dim if dim is not None else (), keepdim), amax(input, dim if dim is not None else (), keepdim)


@op()
def argmax(input, dim=None, keepdim=False):
    return _core.argmax(input, None if dim is None else _py_int(dim), keepdim, True)


@op()
def argmin(input, dim=None, keepdim=False):
    return _core.argmax(input, None if dim is None else _py_int(dim), keepdim, False)


def _correction(unbiased, correction):
    if correction is not None:
        return _py_float(correction)
    return 1.0 if unbiased in (None, True) else 0.0


@op()
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, _py_bool):
        dim, unbiased = None, dim
    _require_float(input, "std_var")
    return _core.var(input, _reduce_dims(dim), _correction(unbiased, correction), keepdim)


@op()
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, _py_bool):
        dim, unbiased = None, dim
    _require_float(input, "std_var")
    return _core.std(input, _reduce_dims(dim), _correction(unbiased, correction), keepdim)


@op(method=False)
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@op(method=False)
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@op()
def logsumexp(input, dim, keepdim=False):
    if not _dims(dim) and input.ndim and input.numel():
        # (PyTorch reduces everything for dim=() only on a 0-d or empty input)
        raise RuntimeError("logsumexp(): dim=() or [] is not allowed; name the dims to reduce")
    return _core.logsumexp(input, _dims(dim) or list(range(input.ndim)), keepdim)


@op()
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    if p in ("fro", None):
        p = 2.0
    elif p == "nuc":
        raise NotImplementedError("nuclear norm is not supported")
    return _core.norm(input, _py_float(p), _reduce_dims(dim), keepdim)


@op()
def cumsum(input, dim, *, dtype=None):
    return _core.cumulative(_sum_dtype(input, dtype), _py_int(dim), False)


@op()
def cumprod(input, dim, *, dtype=None):
    return _core.cumulative(_sum_dtype(input, dtype), _py_int(dim), True)


@op()
def any(input, dim=None, keepdim=False):
    return _core.any(input, _dims(dim), keepdim)


@op()
def all(input, dim=None, keepdim=False):
    return _core.all(input, _dims(dim), keepdim)


@op()
def count_nonzero(input, dim=None):
    return sum(input != 0, dim)


def _median_position(input, dim):
    """Where the median sits along `dim` of the ascending sort: the lower middle, or the first
    NaN of a row holding NaNs (PyTorch's median propagates NaN)."""
    n = input.shape[dim] if input.ndim else 1
    pos = full((), (n - 1) // 2, dtype=int64, device=input.device)
    if not input.is_floating_point():
        return pos
    nans = input.isnan().sum(dim, keepdim=True) if input.ndim else input.isnan().long()
    return where(nans > 0, n - nans, pos)


@op()
def median(input, dim=None, keepdim=False):
    if dim is not None and not isinstance(dim, numbers.Integral):
        raise TypeError(f"median(): argument 'dim' must be int, not {type(dim).__name__}")
    if dim is not None:
        _wrap(dim, input.ndim)
    if input.dtype is bool_:
        raise NotImplementedError("\"median\" not implemented for 'Bool'")
    if dim is None:
        flat = input.reshape(-1)
        if flat.numel() == 0:
            return full((), float("nan"), dtype=input.dtype, device=input.device)
        s = sort(flat)
        pos = _median_position(flat, 0).reshape(1)
        return _core.selected(input, "median", None, s.values.gather(0, pos).reshape(()), pos)
    d = _wrap(dim, input.ndim)
    s = sort(input, d)
    if input.ndim == 0:
        return ReturnMedian(s.values, s.indices)
    if input.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    shape = list(input.shape)
    shape[d] = 1
    pos = _median_position(input, d).expand(shape)
    v, i = s.values.gather(d, pos), s.indices.gather(d, pos)
    if not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    return ReturnMedian(_core.selected(input, "median", d, v, i), i)


@op()
def sort(input, dim=-1, descending=False, stable=False):
    """Sorted values and int64 indices along `dim`: a stable sort, NaN counted as the largest
    value; the gradient flows back through the indices."""
    values, indices = _core.sort(input, _py_int(dim), _py_bool(descending))
    return ReturnSort(values, indices)


@op()
def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending).indices


@op()
def msort(input):
    return sort(input, 0).values


def _check_k(input, k, dim, op):
    size = input.shape[_wrap(dim, input.ndim)] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"{op}(): selected index k out of range (k={k}, dimension size {size})")


@op()
def topk(input, k, dim=-1, largest=True, sorted=True):
    k = _py_int(k)
    _check_k(input, k, dim, "topk")
    s = sort(input, dim, descending=largest)
    if input.ndim == 0:
        return ReturnTopk(s.values, s.indices)
    i = s.indices.narrow(dim, 0, k)
    return ReturnTopk(_core.selected(input, "topk", dim, s.values.narrow(dim, 0, k), i), i)


@op()
def kthvalue(input, k, dim=-1, keepdim=False):
    k = _py_int(k)
    _check_k(input, k, dim, "kthvalue")
    if k == 0:
        raise RuntimeError("kthvalue(): selected number k out of range for dimension (k=0)")
    s = sort(input, dim)
    if input.ndim == 0:
        return ReturnKthvalue(s.values, s.indices)
    v, i = s.values.narrow(dim, k - 1, 1), s.indices.narrow(dim, k - 1, 1)
    if not keepdim:
        v, i = v.squeeze(dim), i.squeeze(dim)
    return ReturnKthvalue(_core.selected(input, "kthvalue", dim, v, i), i)


# ---------------------------------------------------------------------------- shape

@op(function=False)
def view(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (dtype, type)) and not isinstance(shape[0], (tuple, list)):
        raise NotImplementedError("view(dtype) is not supported")
    return _core.view(self, _shape_arg(shape))


@op(function=False)
def view_as(self, other):
    return _core.view(self, list(other.shape))


@op()
def reshape(input, *shape):
    return _core.reshape(input, _shape_arg(shape))


@op(function=False)
def reshape_as(self, other):
    return _core.reshape(self, list(other.shape))


@op()
def permute(input, *dims):
    return _core.permute(input, _shape_arg(dims))


@op("transpose", "swapaxes", "swapdims")
def transpose(input, dim0, dim1):
    return _core.transpose(input, dim0, dim1)



@op()
def t(input):
    return _core.t_(input)


@tensor_property("T")
def _T(self):
    if self.ndim <= 2:
        return _core.t_(self) if self.ndim == 2 else self
    return _core.permute(self, list(range(self.ndim - 1, -1, -1)))


@tensor_property("mT")
def _mT(self):
    if self.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return _core.transpose(self, -2, -1)


@op()
def adjoint(input):
    return _mT(input)


@op(function=False)
def expand(self, *sizes):
    return _core.expand(self, _shape_arg(sizes))


@op(function=False)
def expand_as(self, other):
    return _core.expand(self, list(other.shape))


@op()
def broadcast_to(input, shape):
    return _core.expand(input, _shape_arg((shape,)))


@op(method=False)
def broadcast_tensors(*tensors):
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t.expand(shape) for t in tensors)


@op(method=False)
def broadcast_shapes(*shapes):
    out = []
    for s in shapes:
        s = list(s) if isinstance(s, (tuple, list)) else [s]
        n = _py_max(len(out), len(s))
        a, b = [1] * (n - len(out)) + out, [1] * (n - len(s)) + s
        res = []
        for x, y in zip(a, b):
            if x != y and x != 1 and y != 1:
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape. Mismatch is between {shapes}")
            res.append(y if x == 1 else x)
        out = res
    return Size(out)


@op()
def squeeze(input, dim=None):
    return _core.squeeze(input, _dims(dim))


@op()
def unsqueeze(input, dim):
    return _core.unsqueeze(input, dim)


@op()
def flatten(input, start_dim=0, end_dim=-1):
    return _core.flatten(input, start_dim, end_dim)


@op()
def ravel(input):
    return _core.reshape(input, [-1])


@op()
def unflatten(input, dim, sizes):
    dim = _wrap(dim, input.ndim)
    shape = list(input.shape)
    return _core.reshape(input, shape[:dim] + list(sizes) + shape[dim + 1:])


@op()
def narrow(input, dim, start, length):
    if isinstance(start, Tensor):
        start = start.item()
    return _core.narrow(input, dim, start, length)


@op()
def select(input, dim, index):
    return _core.select(input, dim, _py_int(index))


@op("movedim", "moveaxis")
def movedim(input, source, destination):
    if isinstance(source, (tuple, list)) or isinstance(destination, (tuple, list)):
        n = input.ndim
        source = list(source) if isinstance(source, (tuple, list)) else [source]
        destination = list(destination) if isinstance(destination, (tuple, list)) else [destination]
        if len(source) != len(destination):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({source} dims) should contain the same number of dims as destination ({destination} dims)")
        src = [_wrap(s, n) for s in source]
        dst = [_wrap(d, n) for d in destination]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise RuntimeError(f"movedim: repeated dim in `source` ({source}) or `destination` ({destination})")
        order = [None] * n
        for s, d in zip(src, dst):
            order[d] = s
        rest = iter(i for i in range(n) if i not in src)
        order = [o if o is not None else next(rest) for o in order]
        return _core.permute(input, order)
    return _core.movedim(input, source, destination)



@op(function=False)
def unfold(self, dimension, size, step):
    return _core.unfold_dim(self, dimension, size, step)


@op("cat", "concat", "concatenate", method=False)
def cat(tensors, dim=0, *, out=None):
    _no_out(out)
    if isinstance(tensors, Tensor):
        raise TypeError("cat(): argument 'tensors' must be a tuple or list of Tensors, not Tensor")
    return _core.cat(list(tensors), dim)



@op(method=False)
def stack(tensors, dim=0, *, out=None):
    _no_out(out)
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and {list(t.shape)} at entry {i}")
    d = _wrap(dim, len(shape) + 1)
    return _core.cat([t.unsqueeze(d) for t in tensors], d)


@op(method=False)
def hstack(tensors):
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


@op(method=False)
def vstack(tensors):
    return cat([atleast_2d(t) for t in tensors], 0)


@op(method=False)
def atleast_1d(t):
    return t.reshape(1) if t.ndim == 0 else t


@op(method=False)
def atleast_2d(t):
    return t.reshape(1, -1) if t.ndim < 2 else t


@op()
def split(tensor, split_size_or_sections, dim=0):
    d = _wrap(dim, tensor.ndim)
    size = tensor.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        step = _py_int(split_size_or_sections)
        if step <= 0 and size > 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sections = [_py_min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sections = list(split_size_or_sections)
        if _py_sum(sections) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at dimension {d}), but got split_sizes={sections}")
    out, start = [], 0
    for s in sections:
        out.append(_core.narrow(tensor, d, start, s))
        start += s
    return tuple(out)


@op()
def tensor_split(input, indices_or_sections, dim=0):
    d = _wrap(dim, input.ndim)
    size = input.shape[d]
    if isinstance(indices_or_sections, numbers.Integral):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        q, r = divmod(size, n)
        sizes = [q + 1] * r + [q] * (n - r)
    else:
        bounds = [0] + [_py_min(_py_max(i, 0), size) for i in indices_or_sections] + [size]
        sizes = [_py_max(b - a, 0) for a, b in zip(bounds, bounds[1:])]
    return split(input, sizes, d)


@op()
def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[_wrap(dim, input.ndim)]
    step = -(-size // chunks) if size else 1
    return split(input, _py_max(step, 1), dim)


@op()
def unbind(input, dim=0):
    return tuple(_core.select(input, dim, i) for i in range(input.shape[_wrap(dim, input.ndim)]))


@op(function=False)
def repeat(self, *sizes):
    sizes = _shape_arg(sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    x = self.reshape([1] * (len(sizes) - self.ndim) + list(self.shape))
    expanded, final = [], []
    for r, s in zip(sizes, x.shape):
        expanded += [r, s]
        final.append(r * s)
    x = x.reshape([v for s in x.shape for v in (1, s)]).expand(expanded)
    return x.reshape(final)


@op()
def repeat_interleave(input, repeats, dim=None):
    if dim is None:
        input, dim = input.flatten(), 0
    d = _wrap(dim, input.ndim)
    if isinstance(repeats, Tensor):
        repeats = repeats.tolist()
    if builtins.any(r < 0 for r in (repeats if isinstance(repeats, (list, tuple)) else [repeats])):
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    if isinstance(repeats, (list, tuple)) and len(repeats) not in (1, input.shape[d]):
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = {len(repeats)} and input.size({d}) = {input.shape[d]}")
    if isinstance(repeats, numbers.Integral):
        idx = arange(input.shape[d], device=input.device).unsqueeze(1).expand(-1, repeats).flatten()
    else:
        idx = tensor(np.repeat(np.arange(input.shape[d]), repeats).astype(np.int64), device=input.device)
    return index_select(input, d, idx)


@op()
def tile(input, dims):
    dims = list(dims)
    if len(dims) < input.ndim:
        dims = [1] * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


@op()
def flip(input, *dims):
    # torch.flip(x, dims) and Tensor.flip(*dims)
    return _core.flip(input, _dims(dims[0] if len(dims) == 1 else dims))


@op()
def fliplr(input):
    return flip(input, [1])


@op()
def flipud(input):
    return flip(input, [0])


@op()
def roll(input, shifts, dims=None):
    if dims is None:
        return roll(input.flatten(), shifts, 0).view(input.shape)
    shifts, dims = _dims(shifts), _dims(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    out = input
    for s, d in zip(shifts, dims):
        n = out.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            out = cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
    return out


@op()
def diag(input, diagonal=0):
    if input.ndim == 1:
        n = input.shape[0] + _py_abs(diagonal)
        out = zeros(n, n, dtype=input.dtype, device=input.device)
        idx = arange(input.shape[0], device=input.device)
        rows, cols = (idx, idx + diagonal) if diagonal >= 0 else (idx - diagonal, idx)
        return out.index_put((rows, cols), input)
    if input.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    return _core.diagonal(input, diagonal, 0, 1).clone()


@op()
def diagonal(input, offset=0, dim1=0, dim2=1):
    return _core.diagonal(input, offset, dim1, dim2)


@op()
def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return diagonal(input).sum()


def _check_matrix(input, op):
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")


@op()
def tril(input, diagonal=0):
    _check_matrix(input, "tril")
    r = arange(input.shape[-2], device=input.device).unsqueeze(1)
    c = arange(input.shape[-1], device=input.device).unsqueeze(0)
    return where(c - r <= diagonal, input, zeros((), dtype=input.dtype, device=input.device))


@op()
def triu(input, diagonal=0):
    _check_matrix(input, "triu")
    r = arange(input.shape[-2], device=input.device).unsqueeze(1)
    c = arange(input.shape[-1], device=input.device).unsqueeze(0)
    return where(c - r >= diagonal, input, zeros((), dtype=input.dtype, device=input.device))


# ---------------------------------------------------------------------------- indexing

@op()
def gather(input, dim, index, *, sparse_grad=False):
    return _core.gather(input, dim, index)


@op(inplace=True)
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter reduce='{reduce}' is not supported")
        return _core.scatter(input, dim, index, src if src is not None else value, True)
    return _core.scatter(input, dim, index, src if src is not None else value, False)


@op(inplace=True)
def scatter_add(input, dim, index, src):
    return _core.scatter(input, dim, index, src, True)


@op()
def index_select(input, dim, index):
    return _core.index_select(input, dim, index)


@op(inplace=True)
def index_add(input, dim, index, source, *, alpha=1):
    if alpha != 1:
        source = source * alpha
    return _core.index_add(input, dim, index, source)


@op(inplace=True)
def index_fill(input, dim, index, value):
    mask_shape = [1] * input.ndim
    d = _wrap(dim, input.ndim)
    mask_shape[d] = input.shape[d]
    mask = zeros(input.shape[d], dtype=bool_, device=input.device).index_put((index,), True).view(mask_shape)
    return where(mask, value, input)


@op(inplace=True)
def masked_fill(input, mask, value):
    if mask._dtype != "bool":
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s).")
        value = value.to(input.dtype)
    out = _core.where_(mask, value, input)
    return out if out._dtype == input._dtype else out.to(input.dtype)


@op()
def masked_select(input, mask):
    if mask._dtype != "bool":
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {mask.dtype}")
    shape = broadcast_shapes(input.shape, mask.shape)
    x, m = input.expand(shape), mask.expand(shape)
    idx = m.reshape(-1).nonzero().reshape(-1)
    return x.reshape(-1).index_select(0, idx)


@op()
def nonzero(input, *, as_tuple=False):
    nz = _core.nonzero(input)
    if as_tuple:
        if input.ndim == 0:
            # [count, 0] rows: index 0 once when the scalar is non-zero
            return (zeros(nz.shape[0], dtype=int64, device=input.device),)
        return tuple(nz.select(1, i) for i in range(input.ndim))
    return nz


@op()
def argwhere(input):
    return _core.nonzero(input)


@op()
def take(input, index):
    return _core.take(input, index)


@op()
def take_along_dim(input, indices, dim=None):
    if dim is None:
        return take(input, indices)
    # Negative indices count from the end here (gather itself refuses them).
    indices = where(indices < 0, indices + input.shape[_wrap(dim, input.ndim)], indices)
    d = _wrap(dim, input.ndim)
    # Broadcast every dim but `dim` (which keeps each operand's own size).
    without_d = [[1 if k == d else n for k, n in enumerate(t.shape)] for t in (input, indices)]
    shape = list(broadcast_shapes(*without_d))
    ishape, xshape = list(shape), list(shape)
    ishape[d], xshape[d] = indices.shape[d], input.shape[d]
    return gather(input.expand(xshape), d, indices.expand(ishape))


def _index_tensor(i, device):
    if isinstance(i, Tensor):
        return i
    arr = np.asarray(i)
    if arr.dtype == object:
        raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {type(i).__name__})")
    if arr.dtype.kind == "f":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if arr.size == 0 and arr.dtype.kind not in "b":
        arr = arr.astype(np.int64)
    return tensor(arr, device=device)


def _expand_index(self, index):
    """Normalises an index to a list of items, with Ellipsis expanded."""
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for i in index:
        if isinstance(i, (list, np.ndarray)) or (isinstance(i, Tensor) and not isinstance(i, _py_bool)):
            i = _index_tensor(i, self.device)
        items.append(i)
    consumed = 0
    for i in items:
        if i is None or i is Ellipsis or isinstance(i, _py_bool):
            continue
        if isinstance(i, Tensor) and i._dtype == "bool":
            consumed += _py_max(i.ndim, 0)
        else:
            consumed += 1
    if consumed > self.ndim:
        raise IndexError(f"too many indices for tensor of dimension {self.ndim}")
    ell = [k for k, i in enumerate(items) if i is Ellipsis]
    if len(ell) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ell:
        k = ell[0]
        items = items[:k] + [slice(None)] * (self.ndim - consumed) + items[k + 1:]
    return items


def _apply_index(self, index):
    """Basic indexing as views, then advanced (tensor) indices via one index_select."""
    items = _expand_index(self, index)
    x, d = self, 0
    advanced = []  # (dim in x, int64 index tensor)
    for i in items:
        if i is None:
            x = _core.unsqueeze(x, d)
            d += 1
        elif isinstance(i, _py_bool):
            x = _core.unsqueeze(x, d)
            if not i:
                x = _core.slice(x, d, 0, 0, 1)
            d += 1
        elif isinstance(i, slice):
            step = 1 if i.step is None else _py_int(i.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            start = None if i.start is None else _py_int(i.start)
            stop = None if i.stop is None else _py_int(i.stop)
            x = _core.slice(x, d, start, stop, step)
            d += 1
        elif isinstance(i, Tensor):
            if i._dtype == "bool":
                k = i.ndim
                if tuple(x.shape[d:d + k]) != tuple(i.shape):
                    raise IndexError(
                        f"The shape of the mask {list(i.shape)} at index {d} does not match the shape of the indexed tensor {list(x.shape)} at index {d}")
                if k == 0:
                    x = _core.unsqueeze(x, d)
                    advanced.append((d, nonzero(i.reshape(1)).reshape(-1)))
                    d += 1
                    continue
                for j, idx in enumerate(nonzero(i, as_tuple=True)):
                    advanced.append((d + j, idx))
                d += k
            elif i._dtype in ("int64", "int32"):
                advanced.append((d, i))
                d += 1
            else:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        elif isinstance(i, (numbers.Integral, np.integer)) or (hasattr(i, "__index__") and not isinstance(i, Tensor)):
            x = _core.select(x, d, _py_int(i.__index__()))
        else:
            raise (TypeError if isinstance(i, str) else IndexError)(
                f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {type(i).__name__})")
    if not advanced:
        return x
    return _advanced(x, advanced)


def _advanced(x, advanced):
    dims = [d for d, _ in advanced]
    try:
        idxs = broadcast_tensors(*[i.to(x.device) for _, i in advanced])  # CPU indices may index a GPU tensor
    except RuntimeError:
        shapes = " ".join(str(list(i.shape)) for _, i in advanced)
        raise IndexError(f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}") from None
    bshape = list(idxs[0].shape) if idxs else []
    sizes = [x.shape[d] for d in dims]
    lin = None
    for idx, d, n in zip(idxs, dims, sizes):
        # Wrapped and range-checked by the kernels (no value read here: capturable, no GPU sync).
        idx = _core.wrap_index(idx, n, d)
        lin = idx if lin is None else lin * n + idx
    rest = [k for k in range(x.ndim) if k not in dims]
    moved = _core.permute(x, dims + rest)
    flat = _core.reshape(moved, [-1] + [x.shape[k] for k in rest])
    out = _core.index_select(flat, 0, lin.reshape(-1))
    out = _core.reshape(out, bshape + [x.shape[k] for k in rest])
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if adjacent and dims[0] > 0:
        nb = len(bshape)
        before = list(range(nb, nb + dims[0]))
        order = before + list(range(nb)) + list(range(nb + dims[0], out.ndim))
        out = _core.permute(out, order)
    return out


@op(function=False)
def __getitem__(self, index):
    if isinstance(index, (numbers.Integral, np.integer)) and not isinstance(index, _py_bool):
        return _core.select(self, 0, _py_int(index))
    return _apply_index(self, index)


def _has_advanced(items):
    return builtins.any(isinstance(i, Tensor) or isinstance(i, _py_bool) for i in items)


@op(function=False)
def __setitem__(self, index, value):
    if isinstance(value, (list, tuple, np.ndarray)):
        value = tensor(value, dtype=self.dtype, device=self.device)
    items = _expand_index(self, index)
    tracked = _core.is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if isinstance(value, numbers.Integral) and not -2**63 <= value < 2**63:
        raise ValueError(f"value cannot be converted to type int64 without overflow: {value}")
    if not isinstance(value, Tensor):
        _check_fill_value(value, self.dtype)
    others = [value] if isinstance(value, Tensor) else []
    if not tracked and not _has_advanced(items):
        target = _apply_index(self, tuple(items))
        _core.inplace(target, others, lambda _: _value_like(value, target))
        return
    mask = _fill_mask(self, items, value)
    if mask is not None:
        _core.inplace(self, others, lambda x: masked_fill(x, mask, _value_like(value, x)))
        return
    positions = _apply_index(arange(self.numel(), device=self.device).view(self.shape), tuple(items))
    _core.inplace(self, others, lambda x: _core.put(x, positions, _value_like(value, x), False))


def _fill_mask(self, items, value):
    """`x[mask] = v` with one bool mask over leading dims and a single value is a masked fill
    (no nonzero, so no device sync): the mask viewed to broadcast over x, or None when the
    assignment is not of that form."""
    if len(items) != 1 or isinstance(value, Tensor) and value.ndim != 0:
        return None
    mask = items[0]
    if not (isinstance(mask, Tensor) and mask._dtype == "bool" and 0 < mask.ndim <= self.ndim
            and tuple(mask.shape) == tuple(self.shape[:mask.ndim])):
        return None
    return mask.to(self.device).reshape(list(mask.shape) + [1] * (self.ndim - mask.ndim))


def _value_like(value, target):
    if isinstance(value, Tensor):
        return value
    return _core.scalar(value, target._dtype)


@op(inplace=True)
def index_put(input, indices, values, accumulate=False):
    positions = _apply_index(arange(input.numel(), device=input.device).view(input.shape), tuple(indices))
    return _core.put(input, positions, values if isinstance(values, Tensor) else _core.scalar(values, input._dtype), accumulate)


# ---------------------------------------------------------------------------- linear algebra

@op()
def matmul(input, other, *, out=None):
    _no_out(out)
    return _core.matmul(input, other)


@op("__imatmul__", function=False)
def _imatmul(self, other):
    return self.copy_(self @ other)


@op()
def mm(input, mat2, *, out=None):
    return _core.mm(input, mat2)


@op()
def bmm(input, mat2, *, out=None):
    return _core.bmm(input, mat2)


@op("dot", "inner")
def dot(input, other, *, out=None):
    return _core.dot(input, other)



@op()
def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return _core.matmul(input, vec)


@op("outer", "ger")
def outer(input, vec2):
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got {input.ndim}-D and {vec2.ndim}-D")
    return input.unsqueeze(1) * vec2.unsqueeze(0)



def _scaled_sum(input, product, beta, alpha):
    """beta * input + alpha * product; a zero beta or alpha ignores its term (NaN and inf
    included), as in PyTorch."""
    if alpha == 0:
        product = zeros_like(product)
    elif alpha != 1:
        product = product * alpha
    if beta == 0:
        return product + zeros_like(input)
    return input + product if beta == 1 else input * beta + product


@op()
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    return _scaled_sum(input, _core.mm(mat1, mat2), beta, alpha)


@op(method=False)
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _scaled_sum(input, _core.bmm(batch1, batch2), beta, alpha)


@op()
def cross(input, other, dim=None):
    if dim is None:
        dims = [i for i, s in enumerate(input.shape) if s == 3]
        if not dims:
            raise RuntimeError(f"no dimension of size 3 in input of shape {list(input.shape)}")
        dim = dims[0]
    if input.shape[_wrap(dim, input.ndim)] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[_wrap(dim, input.ndim)]}")
    a = [input.select(dim, i) for i in range(3)]
    b = [other.select(dim, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], dim)


@op(method=False)
def einsum(equation, *operands):
    from ._einsum import einsum as _einsum
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return _einsum(equation, *operands)


@op(method=False)
def tensordot(a, b, dims=2):
    if isinstance(dims, numbers.Integral):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    ra = [i for i in range(a.ndim) if i not in da]
    rb = [i for i in range(b.ndim) if i not in db]
    k = 1
    for d in da:
        k *= a.shape[d]
    am = a.permute(ra + da).reshape(-1, k)
    bm = b.permute(db + rb).reshape(k, -1)
    return (am @ bm).reshape([a.shape[i] for i in ra] + [b.shape[i] for i in rb])


# ---------------------------------------------------------------------------- nn-ish

@op()
def softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    _require_float(input, "softmax")
    return _core.softmax(input, dim, False)


@op()
def log_softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    _require_float(input, "log_softmax")
    return _core.softmax(input, dim, True)


# ---------------------------------------------------------------------------- in place

@op(function=False)
def zero_(self):
    _core.inplace(self, [], lambda x: _core.scalar(0, x._dtype), False)
    return self


@op(function=False)
def fill_(self, value):
    _check_fill_value(value, self.dtype)
    others = [value] if isinstance(value, Tensor) else []
    _core.inplace(self, others, lambda x: value if isinstance(value, Tensor) else _core.scalar(value, x._dtype), False)
    return self


@op(function=False)
def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    # Across devices too, as PyTorch's copy_ (e.g. nn.init filling GPU parameters from the CPU).
    _core.inplace(self, [src], lambda x: src.to(x.device, x.dtype))
    return self


def _random_fill(self, draw):
    """Fills `self` in place with `draw(shape, dtype)`, drawn from the CPU's stream (so a seed
    gives the same numbers on every device) and copied to `self`'s device."""
    def values(x):
        v = draw(list(x.shape), x._dtype)
        return v if x._device == "cpu" else _core.to_device(v, x._device)
    _core.inplace(self, [], values)
    return self


@op(function=False)
def uniform_(self, a=0.0, b=1.0, generator=None):
    return _random_fill(self, lambda shape, d: _core.rand_uniform(shape, _py_float(a), _py_float(b), d))


@op(function=False)
def normal_(self, mean=0.0, std=1.0, generator=None):
    return _random_fill(self, lambda shape, d: _core.rand_normal(shape, _py_float(mean), _py_float(std), d))


@op(function=False)
def bernoulli_(self, p=0.5, generator=None):
    return _random_fill(self, lambda shape, d: _core.bernoulli_mask(shape, _py_float(p), d))


@op(function=False)
def exponential_(self, lambd=1.0, generator=None):
    return _random_fill(self, lambda shape, d: -(1 - _core.rand_uniform(shape, 0.0, 1.0, d)).log() / lambd)


@op(function=False)
def random_(self, low=0, high=None, generator=None):
    if high is None:
        low, high = 0, low if low else 2 ** 24
    return _random_fill(self, lambda shape, d: _core.randint(_py_int(low), _py_int(high), shape, d))


@op()
def bernoulli(input, p=None, generator=None):
    probs = input if p is None else full_like(input, p)
    if probs.numel() and not ((probs >= 0) & (probs <= 1)).all().item():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    return (rand_like(probs) < probs).to(input.dtype)


@op()
def multinomial(input, num_samples, replacement=False, generator=None):
    """Category indices drawn by the Gumbel-max trick on the input's device: with replacement
    each draw is the argmax of log(p) plus fresh Gumbel noise; without, the draws are the
    top `num_samples` of one noisy row, in order (the law of sequential draws)."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    num_samples = _py_int(num_samples)
    probs = input.detach()
    if not probs.is_floating_point():
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype}")
    n = probs.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if ((probs < 0) | ~probs.isfinite()).any().item():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (probs.sum(-1) <= 0).any().item():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and ((probs > 0).sum(-1) < num_samples).any().item():
        raise RuntimeError("invalid multinomial distribution (with replacement=False, not enough non-negative category to sample)")
    rows = probs.reshape(-1, n)
    shape = [rows.shape[0], num_samples, n] if replacement else list(rows.shape)
    gumbel = -(-rand(shape, dtype=probs.dtype, device=probs.device).log()).log()
    if replacement:
        out = (rows.log().unsqueeze(1) + gumbel).argmax(-1)
    else:
        out = topk(rows.log() + gumbel, num_samples, -1).indices
    return out.reshape(-1) if input.ndim == 1 else out


@op(method=False)
def normal(mean, std=1.0, size=None, *, generator=None):
    negative_std = (std < 0).any().item() if isinstance(std, Tensor) else std < 0
    if negative_std:
        raise RuntimeError(f"normal expects all elements of std >= 0.0, got {std}")
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        shape = broadcast_shapes(getattr(mean, "shape", ()), getattr(std, "shape", ()))
        dt = mean.dtype if isinstance(mean, Tensor) else std.dtype
        return randn(shape, dtype=dt) * std + mean
    return randn(size, dtype=None) * std + mean


def _legacy_constructor(dt, name):
    def make(*args):
        """Legacy `torch.FloatTensor(data)` / `torch.FloatTensor(*sizes)`."""
        if len(args) == 1 and not isinstance(args[0], numbers.Integral):
            return tensor(args[0], dtype=dt)
        return zeros(*args, dtype=dt)
    make.__name__ = make.__qualname__ = name
    return make


for _dt in (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool_):
    op(_dt._legacy, method=False)(_legacy_constructor(_dt, _dt._legacy))
del _dt


@op(method=False)
def promote_types(type1, type2):
    """The dtype `type1` and `type2` meet in (PyTorch's promotion table)."""
    return from_name(_core.promote_types(to_dtype(type1).name, to_dtype(type2).name))


@op(method=False)
def result_type(tensor, other):
    """The dtype an element-wise op of `tensor` and `other` (tensors or numbers) computes in."""
    return from_name(_core.result_type(tensor, other))


@op(method=False)
def can_cast(from_, to):
    """Whether casting `from_` to `to` keeps its category: no float to integer, nothing to bool."""
    category = lambda d: 0 if d is bool_ else 2 if d.is_floating_point else 1  # noqa: E731
    return category(to_dtype(from_)) <= category(to_dtype(to))


@op(method=False)
def is_tensor(obj):
    return isinstance(obj, Tensor)


@op(method=False)
def numel(input):
    return input.numel()
