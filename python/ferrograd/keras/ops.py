"""`keras.ops`: Keras 3's backend-agnostic ops (its `numpy`, `nn` and `math` namespaces, flat as
Keras exports them), each a thin mapping onto ferrograd ops, so they record on the tape.

Arguments may be ferrograd tensors, Variables, numpy arrays, nested lists or Python numbers;
non-tensors are converted by `convert_to_tensor` onto the device of the tensor they meet.
Conventions are Keras's: `axis`/`keepdims` names, `axis=None` for "all axes", population
variance, `leaky_relu` slope 0.2, tanh-approximated `gelu`, crossentropies clipping
probabilities to [1e-7, 1 - 1e-7]. Integer results are int64 where Keras gives int32 (index
ops give int64, as PyTorch's), and `int8`..`int32` and `uint*` dtype names map to int64 so that
integer tensors meet in one dtype.
"""
import builtins
import numbers

import numpy as np

import ferrograd as _fg
import ferrograd.nn.functional as _F
from .._core import Tensor
from .._dtype import get_default_dtype, to_dtype

_EPSILON = 1e-7


# ---------------------------------------------------------------------------- conversion

def _floatx():
    return get_default_dtype()


def _resolve_dtype(dtype):
    """A Keras dtype (name or object) as the ferrograd dtype its tensors get: integer types are
    int64, which every device holds (see the module docstring)."""
    if dtype is None:
        return None
    d = to_dtype(dtype)
    return _fg.int64 if not d.is_floating_point and d is not _fg.bool else d


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A tensor from `x`: a tensor is returned as is (cast to `dtype` if given); a numpy array
    keeps its dtype; Python floats and lists of them become the float type (float32)."""
    if sparse or ragged:
        raise NotImplementedError("ferrograd.keras.ops.convert_to_tensor: sparse and ragged tensors are not supported")
    dtype = _resolve_dtype(dtype)
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype is dtype else x.to(dtype)
    if isinstance(x, (list, tuple)) and builtins.any(isinstance(v, Tensor) for v in _flat(x)):
        return _fg.stack([convert_to_tensor(v, dtype) for v in x])
    if dtype is None and not isinstance(x, (np.ndarray, np.generic)):
        kind = np.asarray(x).dtype.kind
        if kind == "f":
            dtype = _floatx()
    return _fg.tensor(np.asarray(x), dtype=dtype)


def _flat(x):
    for v in x:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        else:
            yield v


def convert_to_numpy(x):
    """A numpy copy of `x` (detached from any tape, copied to the host)."""
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy().copy()
    return np.array(x)


def is_tensor(x):
    return isinstance(x, Tensor)


def _on(x, device):
    """`x` as a tensor on `device` (numbers too: for ops that need a tensor)."""
    t = convert_to_tensor(x)
    return t if device is None or t.device == device else t.to(device)


def _device_of(*xs):
    for x in xs:
        if isinstance(x, Tensor):
            return x.device
    return None


def _tensors(*xs):
    """All of `xs` as tensors on the device of the first tensor among them."""
    device = _device_of(*xs)
    return [_on(x, device) for x in xs]


def _operands(a, b):
    """Two operands of an element-wise op: Python numbers stay scalars (they do not promote the
    other operand, as in Keras's weak typing); the rest become tensors on a shared device."""
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return convert_to_tensor(a), b
    device = _device_of(a, b)
    conv = [x if isinstance(x, numbers.Number) else _on(x, device) for x in (a, b)]
    return conv[0], conv[1]


def _axes(axis):
    if axis is None:
        return None
    return list(axis) if isinstance(axis, (list, tuple)) else [int(axis)]


def _float(x):
    """Integer and bool tensors as the float type (Keras's mean/var/trig of ints are floats)."""
    x = convert_to_tensor(x)
    return x if x.is_floating_point() else x.to(_floatx())


def dtype(x):
    """The dtype's name, as Keras gives it (a string)."""
    return convert_to_tensor(x).dtype.name


def cast(x, dtype):
    return convert_to_tensor(x).to(_resolve_dtype(dtype))


def saturate_cast(x, dtype):
    d = to_dtype(dtype)
    x = convert_to_tensor(x)
    if not d.is_floating_point and d.name != "bool" and x.is_floating_point():
        info = _fg.iinfo(d)
        x = x.clamp(float(info.min), float(info.max))
    return x.to(_resolve_dtype(dtype))


def shape(x):
    return tuple(convert_to_tensor(x).shape)


def ndim(x):
    return convert_to_tensor(x).dim()


def size(x):
    return convert_to_tensor(x).numel()


def stop_gradient(variable):
    return convert_to_tensor(variable).detach()


def copy(x):
    return convert_to_tensor(x).clone()


def array(x, dtype=None):
    return convert_to_tensor(x, dtype).clone() if isinstance(x, Tensor) else convert_to_tensor(x, dtype)


# ---------------------------------------------------------------------------- creation

def _shape_arg(shape):
    return (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)


def zeros(shape, dtype=None):
    return _fg.zeros(_shape_arg(shape), dtype=_resolve_dtype(dtype) or _floatx())


def ones(shape, dtype=None):
    return _fg.ones(_shape_arg(shape), dtype=_resolve_dtype(dtype) or _floatx())


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    if isinstance(fill_value, Tensor):
        return _fg.broadcast_to(fill_value, _shape_arg(shape)).to(_resolve_dtype(dtype) or fill_value.dtype).clone()
    d = _resolve_dtype(dtype) or (_floatx() if isinstance(fill_value, float) else None)
    return _fg.full(_shape_arg(shape), fill_value, dtype=d)


def zeros_like(x, dtype=None):
    x = convert_to_tensor(x)
    return _fg.zeros_like(x, dtype=_resolve_dtype(dtype) or x.dtype)


def ones_like(x, dtype=None):
    x = convert_to_tensor(x)
    return _fg.ones_like(x, dtype=_resolve_dtype(dtype) or x.dtype)


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def full_like(x, fill_value, dtype=None):
    x = convert_to_tensor(x)
    return _fg.full_like(x, fill_value, dtype=_resolve_dtype(dtype) or x.dtype)


def arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    d = _resolve_dtype(dtype)
    if d is None:
        d = _floatx() if builtins.any(isinstance(v, float) for v in (start, stop, step)) else _fg.int64
    return _fg.arange(start, stop, step, dtype=d)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    if not endpoint:
        stop = start + (stop - start) * (num - 1) / num if num > 1 else stop
    out = _fg.linspace(float(start), float(stop), num, dtype=_resolve_dtype(dtype) or _floatx())
    if retstep:
        return out, (stop - start) / builtins.max(num - 1, 1)
    return out


def eye(N, M=None, k=0, dtype=None):
    M = N if M is None else M
    d = _resolve_dtype(dtype) or _floatx()
    if k == 0:
        return _fg.eye(N, M, dtype=d)
    rows = _fg.arange(N).unsqueeze(1)
    cols = _fg.arange(M).unsqueeze(0)
    return (cols - rows == k).to(d)


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    return tril(ones((N, N if M is None else M), dtype=dtype), k)


# ---------------------------------------------------------------------------- element-wise

def _unary(name, float_input=True):
    torch_fn = getattr(_fg, name)

    def op(x):
        return torch_fn(_float(x) if float_input else convert_to_tensor(x))
    return op


abs = absolute = _unary("abs", float_input=False)
negative = _unary("neg", float_input=False)
sign = _unary("sign", float_input=False)
exp = _unary("exp")
exp2 = _unary("exp2")
expm1 = _unary("expm1")
log = _unary("log")
log2 = _unary("log2")
log10 = _unary("log10")
log1p = _unary("log1p")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
reciprocal = _unary("reciprocal")
sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
arcsin = _unary("asin")
arccos = _unary("acos")
arctan = _unary("atan")
sinh = _unary("sinh")
cosh = _unary("cosh")
tanh = _unary("tanh")
erf = _unary("erf")
floor = _unary("floor", float_input=False)
ceil = _unary("ceil", float_input=False)
trunc = _unary("trunc", float_input=False)
isnan = _unary("isnan", float_input=False)
isinf = _unary("isinf", float_input=False)
isfinite = _unary("isfinite", float_input=False)
logical_not = _unary("logical_not", float_input=False)
bitwise_not = bitwise_invert = _unary("bitwise_not", float_input=False)


def square(x):
    return _fg.square(convert_to_tensor(x))


def erfc(x):
    return 1.0 - erf(x)


def arcsinh(x):
    x = _float(x)
    return _fg.sign(x) * _fg.log(x.abs() + (x * x + 1.0).sqrt())


def arccosh(x):
    x = _float(x)
    return _fg.log(x + (x * x - 1.0).sqrt())


def arctanh(x):
    x = _float(x)
    return 0.5 * _fg.log((1.0 + x) / (1.0 - x))


def round(x, decimals=0):
    return _fg.round(convert_to_tensor(x), decimals=decimals)


def _binary(torch_fn):
    def op(x1, x2):
        a, b = _operands(x1, x2)
        return torch_fn(a, b)
    return op


add = _binary(_fg.add)
subtract = _binary(_fg.sub)
multiply = _binary(_fg.mul)
divide = true_divide = _binary(_fg.div)
floor_divide = _binary(_fg.floor_divide)
mod = _binary(_fg.remainder)
fmod = _binary(_fg.fmod)
power = _binary(_fg.pow)
maximum = _binary(_fg.maximum)
minimum = _binary(_fg.minimum)
equal = _binary(_fg.eq)
not_equal = _binary(_fg.ne)
less = _binary(_fg.lt)
less_equal = _binary(_fg.le)
greater = _binary(_fg.gt)
greater_equal = _binary(_fg.ge)
logical_and = _binary(_fg.logical_and)
logical_or = _binary(_fg.logical_or)
logical_xor = _binary(_fg.logical_xor)
bitwise_and = _binary(_fg.bitwise_and)
bitwise_or = _binary(_fg.bitwise_or)
bitwise_xor = _binary(_fg.bitwise_xor)
arctan2 = _binary(_fg.atan2)


def divide_no_nan(x1, x2):
    a, b = _tensors(x1, x2)
    safe = _fg.where(b == 0, _fg.ones_like(b), b)
    return _fg.where(b == 0, _fg.zeros_like(a / safe), a / safe)


def logaddexp(x1, x2):
    a, b = _tensors(_float(x1), _float(x2))
    hi = _fg.maximum(a, b)
    return hi + _fg.log1p(_fg.exp(-(a - b).abs()))


def hypot(x1, x2):
    a, b = _tensors(_float(x1), _float(x2))
    return (a * a + b * b).sqrt()


def clip(x, x_min, x_max):
    x = convert_to_tensor(x)
    lo = x_min if isinstance(x_min, numbers.Number) else _on(x_min, x.device)
    hi = x_max if isinstance(x_max, numbers.Number) else _on(x_max, x.device)
    return _fg.clamp(x, lo, hi)


def where(condition, x1=None, x2=None):
    condition = convert_to_tensor(condition)
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("`x1` and `x2` either both should be `None` or both should have non-None value.")
    a, b = _operands(x1, x2)
    if isinstance(a, Tensor) and a.device != condition.device:
        condition = condition.to(a.device)
    return _fg.where(condition.to(_fg.bool), a, b)


def nonzero(x):
    return tuple(_fg.nonzero(convert_to_tensor(x), as_tuple=True))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    a, b = _tensors(x1, x2)
    return _fg.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(all(isclose(x1, x2, rtol, atol, equal_nan)))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        return x
    info = np.finfo(x.dtype._np)
    x = _fg.where(_fg.isnan(x), _fg.full_like(x, nan), x)
    x = _fg.where(x == float("inf"), _fg.full_like(x, info.max if posinf is None else posinf), x)
    return _fg.where(x == float("-inf"), _fg.full_like(x, info.min if neginf is None else neginf), x)


def fabs(x):
    return _fg.abs(_float(x))


def cbrt(x):
    x = _float(x)
    return _fg.sign(x) * x.abs() ** (1.0 / 3.0)


def deg2rad(x):
    return _float(x) * (np.pi / 180.0)


def rad2deg(x):
    return _float(x) * (180.0 / np.pi)


def signbit(x):
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        return x < 0
    # -0.0 has its sign bit set: its reciprocal is -inf.
    return _fg.where(x == 0, _fg.reciprocal(x) < 0, x < 0)


def isposinf(x):
    return convert_to_tensor(x) == float("inf")


def isneginf(x):
    return convert_to_tensor(x) == float("-inf")


def heaviside(x1, x2):
    a, b = _tensors(_float(x1), _float(x2))
    return _fg.where(a < 0, _fg.zeros_like(a), _fg.where(a > 0, _fg.ones_like(a), b + _fg.zeros_like(a)))


def fmax(x1, x2):
    """The maximum, ignoring a NaN operand."""
    a, b = _tensors(x1, x2)
    return _fg.where(_fg.isnan(a), b, _fg.where(_fg.isnan(b), a, _fg.maximum(a, b)))


def fmin(x1, x2):
    """The minimum, ignoring a NaN operand."""
    a, b = _tensors(x1, x2)
    return _fg.where(_fg.isnan(a), b, _fg.where(_fg.isnan(b), a, _fg.minimum(a, b)))


# ---------------------------------------------------------------------------- reductions

def sum(x, axis=None, keepdims=False):
    return _fg.sum(convert_to_tensor(x), dim=_axes(axis), keepdim=keepdims)


def mean(x, axis=None, keepdims=False):
    return _fg.mean(_float(x), dim=_axes(axis), keepdim=keepdims)


def prod(x, axis=None, keepdims=False, dtype=None):
    x = convert_to_tensor(x, dtype)
    axes = _axes(axis)
    if axes is None:
        out = _fg.prod(x)
        return out.reshape((1,) * x.dim()) if keepdims else out
    for a in sorted((a % x.dim() for a in axes), reverse=True):
        x = _fg.prod(x, dim=a, keepdim=keepdims)
    return x


def max(x, axis=None, keepdims=False, initial=None):
    out = _fg.amax(convert_to_tensor(x), dim=_axes(axis) or (), keepdim=keepdims)
    return out if initial is None else _fg.clamp(out, min=initial)


def min(x, axis=None, keepdims=False, initial=None):
    out = _fg.amin(convert_to_tensor(x), dim=_axes(axis) or (), keepdim=keepdims)
    return out if initial is None else _fg.clamp(out, max=initial)


amax = max
amin = min


def _arg(fn, x, axis, keepdims):
    x = convert_to_tensor(x)
    if axis is None:
        out = fn(x.reshape(-1), dim=0)
        return out.reshape((1,) * x.dim()) if keepdims else out
    return fn(x, dim=int(axis), keepdim=keepdims)


def argmax(x, axis=None, keepdims=False):
    return _arg(_fg.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg(_fg.argmin, x, axis, keepdims)


def var(x, axis=None, keepdims=False):
    return _fg.var(_float(x), dim=_axes(axis), correction=0, keepdim=keepdims)


def std(x, axis=None, keepdims=False):
    return _fg.std(_float(x), dim=_axes(axis), correction=0, keepdim=keepdims)


def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and (population) variance over `axes`."""
    x = _float(x)
    m = _fg.mean(x, dim=_axes(axes), keepdim=True)
    v = _fg.mean(_fg.square(x - m), dim=_axes(axes), keepdim=True)
    if not keepdims:
        m, v = m.squeeze(_axes(axes)), v.squeeze(_axes(axes))
    return m, v


def average(x, axis=None, weights=None):
    if weights is None:
        return mean(x, axis)
    x, w = _tensors(_float(x), _float(weights))
    if axis is not None and w.dim() == 1 and x.dim() > 1:
        shape = [1] * x.dim()
        shape[int(axis)] = -1
        w = w.reshape(shape)
    return sum(x * w, axis) / sum(_fg.broadcast_to(w, x.shape), axis)


def all(x, axis=None, keepdims=False):
    x = convert_to_tensor(x)
    axes = _axes(axis)
    if axes is None:
        out = _fg.all(x)
        return out.reshape((1,) * x.dim()) if keepdims else out
    return _fg.logical_not(_fg.any(_fg.logical_not(x), dim=axes, keepdim=keepdims))


def any(x, axis=None, keepdims=False):
    x = convert_to_tensor(x)
    axes = _axes(axis)
    if axes is None:
        out = _fg.any(x)
        return out.reshape((1,) * x.dim()) if keepdims else out
    return _fg.any(x, dim=axes, keepdim=keepdims)


def count_nonzero(x, axis=None):
    return _fg.count_nonzero(convert_to_tensor(x), dim=_axes(axis))


def ptp(x, axis=None, keepdims=False):
    return max(x, axis, keepdims) - min(x, axis, keepdims)


def nansum(x, axis=None, keepdims=False):
    return _fg.nansum(convert_to_tensor(x), dim=_axes(axis), keepdim=keepdims)


def nanmean(x, axis=None, keepdims=False):
    return _fg.nanmean(_float(x), dim=_axes(axis), keepdim=keepdims)

def logsumexp(x, axis=None, keepdims=False):
    x = _float(x)
    return _fg.logsumexp(x, dim=_axes(axis) if axis is not None else list(range(x.dim())), keepdim=keepdims)


def cumsum(x, axis=None, dtype=None):
    x = convert_to_tensor(x, dtype)
    return _fg.cumsum(x.reshape(-1) if axis is None else x, dim=0 if axis is None else int(axis))


def cumprod(x, axis=None, dtype=None):
    x = convert_to_tensor(x, dtype)
    return _fg.cumprod(x.reshape(-1) if axis is None else x, dim=0 if axis is None else int(axis))


def median(x, axis=None, keepdims=False):
    x = _float(x)
    if axis is None:
        flat = _fg.sort(x.reshape(-1)).values
        n = flat.shape[0]
        out = (flat[(n - 1) // 2] + flat[n // 2]) / 2
        return out.reshape((1,) * x.dim()) if keepdims else out
    s = _fg.sort(x, dim=int(axis)).values
    n = x.shape[int(axis)]
    out = (s.select(int(axis), (n - 1) // 2) + s.select(int(axis), n // 2)) / 2
    return out.unsqueeze(int(axis)) if keepdims else out


def norm(x, ord=None, axis=None, keepdims=False):
    x = _float(x)
    if ord is None or ord == "fro" or (ord == 2 and (axis is None and x.dim() == 1 or isinstance(axis, int))):
        return _fg.sqrt(_fg.sum(x * x, dim=_axes(axis), keepdim=keepdims))
    if isinstance(ord, numbers.Number) and (isinstance(axis, int) or (axis is None and x.dim() == 1)):
        dim = [0] if axis is None else [int(axis)]
        if ord == float("inf"):
            return _fg.amax(x.abs(), dim=dim, keepdim=keepdims)
        if ord == float("-inf"):
            return _fg.amin(x.abs(), dim=dim, keepdim=keepdims)
        if ord == 0:
            return _fg.sum((x != 0).to(x.dtype), dim=dim, keepdim=keepdims)
        return _fg.sum(x.abs() ** ord, dim=dim, keepdim=keepdims) ** (1.0 / ord)
    raise NotImplementedError(f"keras.ops.norm: ord={ord!r} with axis={axis!r} (matrix norms other than 'fro') "
                              "is not supported by ferrograd")


def trace(x, offset=0, axis1=0, axis2=1):
    return _fg.sum(diagonal(x, offset, axis1, axis2), dim=-1)


# ---------------------------------------------------------------------------- linear algebra

def matmul(x1, x2):
    a, b = _tensors(x1, x2)
    return _fg.matmul(a, b)


def dot(x1, x2):
    a, b = _tensors(x1, x2)
    if a.dim() == 0 or b.dim() == 0:
        return a * b
    if b.dim() <= 2:
        return _fg.matmul(a, b)
    return _fg.tensordot(a, b, dims=([a.dim() - 1], [b.dim() - 2]))


def vdot(x1, x2):
    a, b = _tensors(x1, x2)
    return _fg.sum(a.reshape(-1) * b.reshape(-1))


def inner(x1, x2):
    a, b = _tensors(x1, x2)
    if a.dim() == 0 or b.dim() == 0:
        return a * b
    return _fg.tensordot(a, b, dims=([a.dim() - 1], [b.dim() - 1]))


def outer(x1, x2):
    a, b = _tensors(x1, x2)
    return _fg.outer(a.reshape(-1), b.reshape(-1))


def tensordot(x1, x2, axes=2):
    a, b = _tensors(x1, x2)
    if isinstance(axes, (list, tuple)):
        axes = tuple(list(ax) if isinstance(ax, (list, tuple)) else [ax] for ax in axes)
    return _fg.tensordot(a, b, dims=axes)


def einsum(subscripts, *operands):
    return _fg.einsum(subscripts, *_tensors(*operands))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _tensors(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    out = _fg.cross(a.movedim(axisa, -1), b.movedim(axisb, -1), dim=-1)
    return out.movedim(-1, axisc)


# ---------------------------------------------------------------------------- shapes

def reshape(x, newshape):
    return convert_to_tensor(x).reshape(_shape_arg(newshape))


def transpose(x, axes=None):
    x = convert_to_tensor(x)
    if axes is None:
        axes = list(range(x.dim()))[::-1]
    return x.permute(*axes)


def expand_dims(x, axis):
    x = convert_to_tensor(x)
    axes = _axes(axis)
    out_dim = x.dim() + len(axes)
    for a in sorted(a % out_dim for a in axes):
        x = x.unsqueeze(a)
    return x


def squeeze(x, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        return x.squeeze()
    for a in _axes(axis):
        if x.shape[a] != 1:
            raise ValueError(f"keras.ops.squeeze: cannot squeeze axis {a} of shape {tuple(x.shape)}: its size is not 1")
    return x.squeeze(_axes(axis))


def ravel(x):
    return convert_to_tensor(x).reshape(-1)


def concatenate(xs, axis=0):
    ts = _tensors(*xs)
    if axis is None:
        return _fg.cat([t.reshape(-1) for t in ts])
    return _fg.cat(ts, dim=axis)


def stack(x, axis=0):
    return _fg.stack(_tensors(*x), dim=axis)


def hstack(xs):
    return _fg.hstack(_tensors(*xs))


def vstack(xs):
    return _fg.vstack(_tensors(*xs))


def append(x1, x2, axis=None):
    return concatenate([x1, x2], axis=axis)


def split(x, indices_or_sections, axis=0):
    x = convert_to_tensor(x)
    if isinstance(indices_or_sections, numbers.Integral) and x.shape[axis] % indices_or_sections:
        raise ValueError(f"keras.ops.split: axis {axis} of size {x.shape[axis]} does not split into "
                         f"{indices_or_sections} equal sections")
    return list(_fg.tensor_split(x, indices_or_sections, dim=axis))


def array_split(x, indices_or_sections, axis=0):
    return list(_fg.tensor_split(convert_to_tensor(x), indices_or_sections, dim=axis))


def unstack(x, num=None, axis=0):
    return list(_fg.unbind(convert_to_tensor(x), dim=axis))


def broadcast_to(x, shape):
    return _fg.broadcast_to(convert_to_tensor(x), _shape_arg(shape))


def moveaxis(x, source, destination):
    return _fg.movedim(convert_to_tensor(x), source, destination)


def swapaxes(x, axis1, axis2):
    return _fg.swapaxes(convert_to_tensor(x), axis1, axis2)


def flip(x, axis=None):
    x = convert_to_tensor(x)
    return _fg.flip(x, list(range(x.dim())) if axis is None else _axes(axis))


def roll(x, shift, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        return _fg.roll(x.reshape(-1), shift, 0).reshape(tuple(x.shape))
    return _fg.roll(x, shift, axis)


def tile(x, repeats):
    return _fg.tile(convert_to_tensor(x), _shape_arg(repeats))


def repeat(x, repeats, axis=None):
    x = convert_to_tensor(x)
    if not isinstance(repeats, numbers.Integral):
        repeats = _on(repeats, x.device)
    return _fg.repeat_interleave(x, repeats, dim=axis)


def pad(x, pad_width, mode="constant", constant_values=None):
    x = convert_to_tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.dim(), 2))
    flat = [int(v) for pair in widths[::-1] for v in pair]
    if mode != "constant" and constant_values is not None:
        raise ValueError("keras.ops.pad: constant_values can only be given with mode='constant'")
    torch_mode = {"constant": "constant", "reflect": "reflect", "symmetric": None, "edge": "replicate",
                  "wrap": "circular"}.get(mode)
    if torch_mode is None:
        raise NotImplementedError(f"keras.ops.pad: mode={mode!r} is not supported by ferrograd")
    return _F.pad(x, flat, mode=torch_mode, value=0 if constant_values is None else constant_values)


def tril(x, k=0):
    return _fg.tril(convert_to_tensor(x), k)


def triu(x, k=0):
    return _fg.triu(convert_to_tensor(x), k)


def diag(x, k=0):
    return _fg.diag(convert_to_tensor(x), k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    return _fg.diagonal(convert_to_tensor(x), offset, axis1, axis2)


def take(x, indices, axis=None):
    x = convert_to_tensor(x)
    idx = _on(indices, x.device).to(_fg.int64)
    if axis is None:
        return x.reshape(-1)[idx]
    axis = axis % x.dim()
    out = _fg.index_select(x, axis, idx.reshape(-1))
    return out.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))


def take_along_axis(x, indices, axis=None):
    x = convert_to_tensor(x)
    idx = _on(indices, x.device).to(_fg.int64)
    if axis is None:
        return _fg.take_along_dim(x.reshape(-1), idx.reshape(-1), dim=0)
    # Both broadcast against each other on every axis but `axis`.
    axis = axis % x.dim()
    x_shape, idx_shape = list(x.shape), list(idx.shape)
    x_shape[axis] = idx_shape[axis] = 1
    common = list(np.broadcast_shapes(tuple(x_shape), tuple(idx_shape)))
    x = _fg.broadcast_to(x, tuple(common[:axis] + [x.shape[axis]] + common[axis + 1:]))
    idx = _fg.broadcast_to(idx, tuple(common[:axis] + [idx.shape[axis]] + common[axis + 1:]))
    return _fg.gather(x, axis, idx)


def get_item(x, key):
    return convert_to_tensor(x)[key]


def slice(inputs, start_indices, shape):
    x = convert_to_tensor(inputs)
    return x[tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape))]


def slice_update(inputs, start_indices, updates):
    x = convert_to_tensor(inputs).clone()
    updates = _on(updates, x.device)
    key = tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, updates.shape))
    x[key] = updates
    return x


def sort(x, axis=-1):
    return _fg.sort(convert_to_tensor(x), dim=axis).values


def argsort(x, axis=-1):
    x = convert_to_tensor(x)
    if axis is None:
        return _fg.argsort(x.reshape(-1), dim=0, stable=True)
    return _fg.argsort(x, dim=axis, stable=True)


def top_k(x, k, sorted=True):
    out = _fg.topk(convert_to_tensor(x), k, dim=-1, sorted=sorted)
    return out.values, out.indices


def in_top_k(targets, predictions, k):
    """Whether each target's prediction is among the k largest of its row (ties count as in)."""
    predictions = _float(predictions)
    targets = _on(targets, predictions.device).to(_fg.int64)
    kth = _fg.topk(predictions, k, dim=-1).values[..., -1:]
    return (_fg.gather(predictions, -1, targets.unsqueeze(-1)) >= kth).squeeze(-1)

def meshgrid(*x, indexing="xy"):
    ts = [t.reshape(-1) for t in _tensors(*x)]
    shape = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(ts):
        pos = {0: 1, 1: 0}.get(i, i) if indexing == "xy" and len(ts) >= 2 else i
        view = [1] * len(ts)
        view[pos] = -1
        out.append(_fg.broadcast_to(t.reshape(view), tuple(shape)))
    return out


def diff(a, n=1, axis=-1):
    x = convert_to_tensor(a)
    for _ in range(n):
        length = x.shape[axis]
        x = x.narrow(axis, 1, length - 1) - x.narrow(axis, 0, length - 1)
    return x


# ---------------------------------------------------------------------------- nn

def relu(x):
    return _fg.relu(convert_to_tensor(x))


def relu6(x):
    return _F.relu6(_float(x))


def sigmoid(x):
    return _fg.sigmoid(_float(x))


def log_sigmoid(x):
    return _F.logsigmoid(_float(x))


def silu(x):
    return _F.silu(_float(x))


swish = silu


def gelu(x, approximate=True):
    return _F.gelu(_float(x), approximate="tanh" if approximate else "none")


def elu(x, alpha=1.0):
    return _F.elu(_float(x), alpha)


def selu(x):
    return _F.selu(_float(x))


def celu(x, alpha=1.0):
    return _F.celu(_float(x), alpha)


def leaky_relu(x, negative_slope=0.2):
    return _F.leaky_relu(_float(x), negative_slope)


def softplus(x):
    return _F.softplus(_float(x))


def softsign(x):
    return _F.softsign(_float(x))


def hard_sigmoid(x):
    return _F.relu6(_float(x) + 3.0) / 6.0


def hard_silu(x):
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def hard_tanh(x):
    return _fg.clamp(_float(x), -1.0, 1.0)


def squareplus(x, b=4):
    x = _float(x)
    return (x + (x * x + b).sqrt()) / 2


def glu(x, axis=-1):
    x = _float(x)
    if x.shape[axis] % 2:
        raise ValueError(f"axis {axis} should have an even size for glu; received shape {tuple(x.shape)}")
    a, b = _fg.chunk(x, 2, dim=axis)
    return a * _fg.sigmoid(b)


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return _fg.where(x.abs() > threshold, x, _fg.zeros_like(x))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    return _fg.where(x > threshold, x - threshold, _fg.where(x < -threshold, x + threshold, _fg.zeros_like(x)))


def tanh_shrink(x):
    x = _float(x)
    return x - _fg.tanh(x)


def threshold(x, threshold, default_value):
    x = _float(x)
    return _fg.where(x > threshold, x, _fg.full_like(x, default_value))

def softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        return _fg.exp(x - logsumexp(x, axis=axis, keepdims=True))
    return _fg.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        return x - logsumexp(x, axis=axis, keepdims=True)
    return _fg.log_softmax(x, dim=axis)


def normalize(x, axis=-1, order=2, epsilon=None):
    x = _float(x)
    n = norm(x, ord=order, axis=axis, keepdims=True)
    return x / _fg.clamp(n, min=1e-12 if epsilon is None else epsilon)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise NotImplementedError("keras.ops.one_hot: sparse=True is not supported by ferrograd")
    x = convert_to_tensor(x).to(_fg.int64)
    valid = (x >= 0) & (x < num_classes)
    out = _F.one_hot(_fg.where(valid, x, _fg.zeros_like(x)), num_classes) * valid.unsqueeze(-1)
    out = out.to(_resolve_dtype(dtype) or _floatx())
    return out if axis == -1 else _fg.movedim(out, -1, axis)


def multi_hot(inputs, num_classes, axis=-1, dtype=None, sparse=False):
    x = convert_to_tensor(inputs)
    reduce_axis = -2 if axis == -1 else -1
    if x.dim() == 1:
        x = x.unsqueeze(0)
    return max(one_hot(x, num_classes, axis=axis, dtype=dtype, sparse=sparse), axis=reduce_axis)


def _clip_probs(output):
    return _fg.clamp(output, _EPSILON, 1.0 - _EPSILON)


def binary_crossentropy(target, output, from_logits=False):
    target, output = _tensors(_float(target), _float(output))
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError(f"Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}")
    if from_logits:
        return _F.binary_cross_entropy_with_logits(output, target, reduction="none")
    output = _clip_probs(output)
    return -(target * _fg.log(output) + (1.0 - target) * _fg.log(1.0 - output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = _tensors(_float(target), _float(output))
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError(f"Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}")
    if from_logits:
        return -_fg.sum(target * _fg.log_softmax(output, dim=axis), dim=axis)
    output = output / _fg.sum(output, dim=axis, keepdim=True)
    return -_fg.sum(target * _fg.log(_clip_probs(output)), dim=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = _float(output)
    target = _on(target, output.device).to(_fg.int64)
    if target.dim() == output.dim() and target.shape[-1] == 1:
        target = target.squeeze(-1)
    if tuple(target.shape) != tuple(output.shape[:axis] if axis == -1 else output.movedim(axis, -1).shape[:-1]):
        raise ValueError(f"Arguments `target` and `output` must have the same shape up until the last dimension: "
                         f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}")
    dense = one_hot(target, output.shape[axis], axis=axis, dtype=output.dtype)
    return categorical_crossentropy(dense, output, from_logits=from_logits, axis=axis)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    x = _float(x)
    shape = [1] * x.dim()
    shape[axis] = x.shape[axis]
    mean, variance = (_on(v, x.device).reshape(shape) for v in (mean, variance))
    out = (x - mean) * _fg.rsqrt(variance + epsilon)
    if scale is not None:
        out = out * _on(scale, x.device).reshape(shape)
    if offset is not None:
        out = out + _on(offset, x.device).reshape(shape)
    return out


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=1e-3):
    x = _float(x)
    m, v = moments(x, axes=[axis], keepdims=True)
    out = (x - m) * _fg.rsqrt(v + epsilon)
    if gamma is not None:
        out = out * _on(gamma, x.device)
    if beta is not None:
        out = out + _on(beta, x.device)
    return out


# ---------------------------------------------------------------------------- convolution and pooling
# Keras's layouts: channels_last data by default, kernels (*spatial, in / groups, out). The
# ferrograd kernels take channels_first data and (out, in / groups, *spatial) weights, so the
# ops below permute around them; "same" padding is TensorFlow's (the extra row at the end).

def _tuple(value, n, what):
    t = (int(value),) * n if isinstance(value, numbers.Integral) else tuple(int(v) for v in value)
    if len(t) != n:
        raise ValueError(f"`{what}` must have {n} entries for {n}-D spatial data, got {value!r}")
    return t


def _spatial_rank(x, op):
    rank = x.dim() - 2
    if rank not in (1, 2):
        raise NotImplementedError(f"keras.ops.{op}: {rank}-D spatial data (input shape {tuple(x.shape)}) is not "
                                  "supported by ferrograd; 1-D and 2-D are")
    return rank


def _channels_first(x, data_format):
    if data_format in (None, "channels_last"):
        return x.movedim(-1, 1)
    if data_format != "channels_first":
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return x


def _restore_layout(x, data_format):
    return x.movedim(1, -1) if data_format in (None, "channels_last") else x


def _same_pads(sizes, kernel, strides, dilation):
    """TensorFlow's "same" padding as F.pad's list (last spatial axis first)."""
    pads = []
    for size, k, s, d in zip(reversed(sizes), reversed(kernel), reversed(strides), reversed(dilation)):
        total = builtins.max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _padded(x, padding, kernel, strides, dilation, value=0.0):
    if padding == "valid":
        return x
    if padding != "same":
        raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}")
    pads = _same_pads(list(x.shape[2:]), kernel, strides, dilation)
    return _F.pad(x, pads, value=value) if builtins.any(pads) else x


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    x = _channels_first(_float(inputs), data_format)
    rank = _spatial_rank(x, "conv")
    w = _on(kernel, x.device)
    if w.dim() != rank + 2:
        raise ValueError(f"keras.ops.conv: kernel of shape {tuple(w.shape)} for {rank}-D input {tuple(inputs.shape)}")
    groups = x.shape[1] // w.shape[-2]
    if groups * w.shape[-2] != x.shape[1]:
        raise ValueError(f"keras.ops.conv: input has {x.shape[1]} channels, not a multiple of the kernel's "
                         f"{w.shape[-2]} input channels")
    strides, dilation = _tuple(strides, rank, "strides"), _tuple(dilation_rate, rank, "dilation_rate")
    weight = w.movedim(-1, 0).movedim(-1, 1)
    x = _padded(x, padding, tuple(w.shape[:rank]), strides, dilation)
    fn = _F.conv1d if rank == 1 else _F.conv2d
    return _restore_layout(fn(x, weight, stride=strides, dilation=dilation, groups=groups), data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Each input channel convolved with its own `multiplier` filters: kernel (*spatial, in, multiplier)."""
    w = convert_to_tensor(kernel)
    rank = w.dim() - 2
    merged = w.reshape(tuple(w.shape[:rank]) + (1, w.shape[-2] * w.shape[-1]))
    return conv(inputs, merged, strides, padding, data_format, dilation_rate)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    out = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(out, pointwise_kernel, 1, "valid", data_format)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x = _channels_first(_float(inputs), data_format)
    rank = _spatial_rank(x, "max_pool")
    size = _tuple(pool_size, rank, "pool_size")
    strides = size if strides is None else _tuple(strides, rank, "strides")
    x = _padded(x, padding, size, strides, (1,) * rank, value=float("-inf"))
    fn = _F.max_pool1d if rank == 1 else _F.max_pool2d
    return _restore_layout(fn(x, size, strides), data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling; with "same" padding the padded cells are not counted (as in Keras)."""
    x = _channels_first(_float(inputs), data_format)
    rank = _spatial_rank(x, "average_pool")
    size = _tuple(pool_size, rank, "pool_size")
    strides = size if strides is None else _tuple(strides, rank, "strides")
    fn = _F.avg_pool1d if rank == 1 else _F.avg_pool2d
    out = fn(_padded(x, padding, size, strides, (1,) * rank), size, strides)
    if padding == "same":
        counts = fn(_padded(_fg.ones_like(x[:1, :1]), padding, size, strides, (1,) * rank), size, strides)
        out = out / counts
    return _restore_layout(out, data_format)

# ---------------------------------------------------------------------------- control flow (eager)

def cond(pred, true_fn, false_fn):
    return true_fn() if bool(pred) else false_fn()


def switch(index, branches, *operands):
    index = builtins.max(0, builtins.min(int(index), len(branches) - 1))
    return branches[index](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    single = not isinstance(loop_vars, (list, tuple))
    state = (loop_vars,) if single else tuple(loop_vars)
    steps = 0
    while (maximum_iterations is None or steps < maximum_iterations) and bool(cond(*state)):
        out = body(*state)
        state = (out,) if single else tuple(out)
        steps += 1
    return state[0] if single else state


def map(f, xs):
    return stack([f(x) for x in unstack(xs)])


def vectorized_map(function, elements):
    return map(function, elements)


__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == __name__)
