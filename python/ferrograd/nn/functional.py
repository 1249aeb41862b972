"""`ferrograd.nn.functional`: activations, losses, convolution, pooling, normalisation.

Built from core ops whose backward rules are in Rust, so every function here is
differentiable (to any order) without a hand-written gradient.
"""
import functools
import math
import numbers

import numpy as np

from .. import _core
from .. import _tensor as T
from .._core import Tensor
from .._dtype import float32, float64, int64

sigmoid = Tensor.sigmoid
tanh = Tensor.tanh


def _pair(v, name="kernel_size"):
    if isinstance(v, numbers.Integral):
        v = (int(v), int(v))
    v = tuple(int(x) for x in v)
    if len(v) == 1:
        v = (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
    if min(v) < 0:
        raise RuntimeError(f"{name} must be non-negative, got {v}")
    return v


_REDUCED_FLOATS = ("float16", "bfloat16")


def _float32(x):
    return x.float() if isinstance(x, Tensor) and x._dtype in _REDUCED_FLOATS else x


def _in_float32(fn):
    """`fn` (a function of several kernels) run on float16/bfloat16 tensor arguments in float32,
    its result rounded once to the input's dtype, as PyTorch's fused kernels compute them
    (each step in the 16-bit type would round every intermediate)."""
    @functools.wraps(fn)
    def computed_in_float32(input, *args, **kwargs):
        if not (isinstance(input, Tensor) and input._dtype in _REDUCED_FLOATS) and not any(
                isinstance(a, Tensor) and a._dtype in _REDUCED_FLOATS for a in (*args, *kwargs.values())):
            return fn(input, *args, **kwargs)
        out = fn(_float32(input), *map(_float32, args), **{k: _float32(v) for k, v in kwargs.items()})
        keep = input.dtype if isinstance(input, Tensor) and input._dtype in _REDUCED_FLOATS else None
        return out.to(keep) if keep is not None and isinstance(out, Tensor) and out.dtype is float32 else out
    return computed_in_float32


def _inplace_result(input, inplace, fn):
    """fn(input), written into input when `inplace` (float16/bfloat16 computed in float32, see
    `_in_float32`). When autograd records, fn reads a copy: its backward must not see the
    values that the in-place write replaces."""
    if input._dtype in _REDUCED_FLOATS:
        fn = _in_float32(fn)
    if not inplace:
        return fn(input)
    if input.requires_grad and _core.is_grad_enabled():
        return input.copy_(fn(input.clone()))
    return input.copy_(fn(input))


def relu(input, inplace=False):
    return _inplace_result(input, inplace, Tensor.relu)


def relu_(input):
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if input.dtype is T.bool_:
        raise NotImplementedError("\"hardtanh\" not implemented for 'Bool'")
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace_result(input, inplace, lambda input: T.clamp(input, min_val, max_val))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    T._require_float(input, "leaky_relu")
    return _inplace_result(input, inplace, lambda input: T.where(input > 0, input, input * negative_slope))


def elu(input, alpha=1.0, inplace=False):
    T._require_float(input, "elu")
    return _inplace_result(input, inplace, lambda input: T.where(input > 0, input, input.expm1() * alpha))


def selu(input, inplace=False):
    T._require_float(input, "selu")
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return _inplace_result(input, inplace,
                           lambda input: scale * T.where(input > 0, input, input.expm1() * alpha))


def celu(input, alpha=1.0, inplace=False):
    T._require_float(input, "celu")
    return _inplace_result(input, inplace,
                           lambda input: T.where(input > 0, input, (input / alpha).expm1() * alpha))


def gelu(input, approximate="none"):
    T._require_float(input, "gelu")
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + inner.tanh())
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * input * (1.0 + (input * (1.0 / math.sqrt(2.0))).erf())


def silu(input, inplace=False):
    T._require_float(input, "silu")
    return _inplace_result(input, inplace, lambda input: input * input.sigmoid())


def mish(input, inplace=False):
    T._require_float(input, "mish")
    return _inplace_result(input, inplace, lambda input: input * softplus(input).tanh())


def softplus(input, beta=1.0, threshold=20.0):
    T._require_float(input, "softplus")
    scaled = input * beta
    # log1p(exp(x)) computed stably: max(x, 0) + log1p(exp(-|x|)).
    soft = (scaled.relu() + (-scaled.abs()).exp().log1p()) / beta
    return T.where(scaled > threshold, input, soft)


def softsign(input):
    return input / (1 + input.abs())


def logsigmoid(input):
    T._require_float(input, "logsigmoid")
    return -softplus(-input)


def hardsigmoid(input, inplace=False):
    T._require_float(input, "hardsigmoid")
    return _inplace_result(input, inplace, lambda input: T.clamp(input / 6.0 + 0.5, 0.0, 1.0))


def hardswish(input, inplace=False):
    T._require_float(input, "hardswish")
    return _inplace_result(input, inplace, lambda input: input * T.clamp(input / 6.0 + 0.5, 0.0, 1.0))


def threshold(input, threshold, value, inplace=False):
    # NaN stays NaN (it is not <= threshold).
    return _inplace_result(input, inplace, lambda input: T.where(input <= threshold, value, input))



def _softmax_dim(input):
    return 0 if input.ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim(input)
    return T.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim(input)
    return T.log_softmax(input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return softmax(-input, dim, dtype=dtype)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    n = T.norm(input, p, dim, keepdim=True)
    return input / T.clamp(n, min=eps)


def linear(input, weight, bias=None):
    if weight.ndim == 2 and (bias is None or bias.ndim == 1) and input.ndim >= 1:
        return _core.linear(input, weight, bias)
    out = T.matmul(input, weight.t() if weight.ndim == 2 else weight)
    return out if bias is None else out + bias


def bilinear(input1, input2, weight, bias=None):
    out = T.einsum("bi,oij,bj->bo", input1, weight, input2)
    return out if bias is None else out + bias


def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if not input.is_floating_point():
        raise RuntimeError(f"result type Float can't be cast to the desired output type {input.dtype}")
    if p == 1:
        return _inplace_result(input, inplace, lambda input: input * 0.0)
    keep = _core.bernoulli_mask(list(input.shape), 1.0 - p, input._dtype)
    if input.device.type != "cpu":
        keep = keep.to(input.device)  # drawn by the host generator, as torch.rand(device=...) is
    return _inplace_result(input, inplace, lambda input: input * keep * (1.0 / (1.0 - p)))


def dropout2d(input, p=0.5, training=True, inplace=False):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return _inplace_result(input, inplace, lambda input: input * 0.0)
    shape = list(input.shape[:2]) + [1] * (input.ndim - 2)
    keep = _core.bernoulli_mask(shape, 1.0 - p, input._dtype)
    if input.device.type != "cpu":
        keep = keep.to(input.device)
    return _inplace_result(input, inplace, lambda input: input * keep * (1.0 / (1.0 - p)))


def pad(input, pad, mode="constant", value=None):
    """Pads the last len(pad)//2 dims (last dim first); modes constant, reflect, replicate, circular."""
    pad = [int(p) for p in pad]
    if mode == "constant":
        return _core.pad(input, pad, 0.0 if value is None else float(value))
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"F.pad mode '{mode}' is not supported")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    out = input
    for i in range(len(pad) // 2):
        dim = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = out.shape[dim]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input {list(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        positions = range(-lo, n + hi)
        if mode == "reflect":
            idx = [abs(j) if j < 0 else (2 * (n - 1) - j if j >= n else j) for j in positions]
        elif mode == "replicate":
            idx = [min(max(j, 0), n - 1) for j in positions]
        else:
            idx = [j % n for j in positions]
        out = T.index_select(out, dim, T.tensor(idx, dtype=int64, device=out.device))
    return out


def one_hot(tensor, num_classes=-1):
    if tensor.dtype is not int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel() and (tensor < 0).any().item():
        raise RuntimeError("Class values must be non-negative.")
    gpu = tensor.device.type != "cpu"
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        # (the largest class is read back to size the output; on the GPU from the host copy)
        num_classes = int((tensor.cpu() if gpu else tensor).max().item()) + 1 if tensor.numel() else 0
    elif tensor.numel() and (tensor >= num_classes).any().item():
        raise RuntimeError("Class values must be smaller than num_classes.")
    if gpu:
        return (tensor.unsqueeze(-1) == T.arange(num_classes, device=tensor.device)).to(int64)
    out = T.zeros(list(tensor.shape) + [num_classes], dtype=int64, device=tensor.device)
    return T.scatter(out, -1, tensor.unsqueeze(-1), 1)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if input.dtype not in (int64, T.int32):
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have scalar type Long; but got {input.dtype} instead")
    input = input.long()
    if max_norm is not None:
        raise NotImplementedError("embedding max_norm is not supported")
    if padding_idx is not None:
        if not -weight.shape[0] <= padding_idx < weight.shape[0]:
            raise AssertionError(f"Padding_idx must be within num_embeddings, got {padding_idx} for {weight.shape[0]} embeddings")
        if padding_idx < 0:
            padding_idx += weight.shape[0]
    try:
        rows = T.index_select(weight, 0, input.reshape(-1))
    except RuntimeError as e:  # an index outside [0, num_embeddings): IndexError, as in PyTorch
        raise IndexError(f"index out of range in self ({e})") from None
    out = rows.reshape(list(input.shape) + [weight.shape[1]])
    if padding_idx is not None:
        # Rows looked up at padding_idx pass no gradient to the weight.
        out = T.where((input == padding_idx).unsqueeze(-1), out.detach(), out)
    return out


# ---------------------------------------------------------------------------- convolution & pooling

def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    return _core.im2col(input, _pair(kernel_size), _pair(dilation, "dilation"), _pair(padding, "padding"), _pair(stride, "stride"), 0.0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    unbatched = input.ndim == 2
    if unbatched:
        input = input.unsqueeze(0)
    out = _core.col2im(input, _pair(output_size, "output_size"), _pair(kernel_size), _pair(dilation, "dilation"), _pair(padding, "padding"), _pair(stride, "stride"))
    return out.squeeze(0) if unbatched else out


def _batched(input, ndim, name):
    if input.ndim == ndim - 1:
        return input.unsqueeze(0), True
    if input.ndim != ndim:
        raise RuntimeError(f"{name}: Expected {ndim - 1}D (unbatched) or {ndim}D (batched) input, but got input of size: {list(input.shape)}")
    return input, False


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, unbatched = _batched(input, 4, "conv2d")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            kh, kw = weight.shape[-2:]
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            x = pad(x, [tw // 2, tw - tw // 2, th // 2, th - th // 2])
            padding = (0, 0)
        else:
            raise RuntimeError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    out = _core.conv2d(x, weight, bias, stride, _pair(padding, "padding"), dilation, groups)
    return out.squeeze(0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, unbatched = _batched(input, 3, "conv1d")
    if isinstance(padding, str):
        p = padding
    else:
        p = (0, padding if isinstance(padding, numbers.Integral) else padding[0])
    s = stride if isinstance(stride, numbers.Integral) else stride[0]
    d = dilation if isinstance(dilation, numbers.Integral) else dilation[0]
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), p, (1, d), groups).squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    x, unbatched = _batched(input, 4, "conv_transpose2d")
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    op = _pair(output_padding, "output_padding")

    def one_group(x, weight):
        n, c, h, w = x.shape
        cin, o, kh, kw = weight.shape
        oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + op[0] + 1
        ow = (w - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + op[1] + 1
        cols = T.matmul(weight.reshape(cin, o * kh * kw).t(), x.reshape(n, c, h * w))
        return _core.col2im(cols, (oh, ow), (kh, kw), dilation, padding, stride, False, n)

    out = _conv_transpose_groups(x, weight, groups, one_group)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out.squeeze(0) if unbatched else out


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, name):
    k = _pair(kernel_size)
    s = _pair(stride if stride not in (None, ()) else kernel_size, "stride")
    p = _pair(padding, "padding")
    d = _pair(dilation, "dilation")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise RuntimeError(f"{name}: pad should be at most half of effective kernel size, but got pad={p[0]}, kernel_size={k[0]} and dilation={d[0]}")
    h, w = x.shape[-2], x.shape[-1]
    extra = [0, 0]
    if ceil_mode:
        for i, size in enumerate((h, w)):
            span = d[i] * (k[i] - 1) + 1
            out_floor = (size + 2 * p[i] - span) // s[i] + 1
            out_ceil = -(-(size + 2 * p[i] - span) // s[i]) + 1
            # The last window must start inside the input or the left padding.
            if out_ceil > out_floor and (out_ceil - 1) * s[i] < size + p[i]:
                extra[i] = (out_ceil - 1) * s[i] + span - (size + 2 * p[i])
    return k, s, p, d, extra


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    x, unbatched = _batched(input, 4, "max_pool2d")
    k = _pair(kernel_size)
    s = _pair(stride if stride not in (None, ()) else kernel_size, "stride")
    out, indices = _core.max_pool2d(x, k, _pair(dilation, "dilation"), _pair(padding, "padding"), s, bool(ceil_mode))
    if unbatched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    if input.ndim < 3:  # (PyTorch's avg_pool2d raises IndexError here, max_pool2d RuntimeError)
        raise IndexError(f"avg_pool2d: Dimension out of range: expected a 3D or 4D input, got {input.ndim}D")
    x, unbatched = _batched(input, 4, "avg_pool2d")
    n, c, h, w = x.shape
    k, s, p, d, extra = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    planes = x.reshape(n * c, 1, h, w)
    if extra[0] or extra[1]:
        planes = _core.pad(planes, [0, extra[1], 0, extra[0]], 0.0)
    cols = _core.im2col(planes, k, d, p, s, 0.0)
    oh = (planes.shape[2] + 2 * p[0] - (k[0] - 1) - 1) // s[0] + 1
    ow = (planes.shape[3] + 2 * p[1] - (k[1] - 1) - 1) // s[1] + 1
    total = T.sum(cols, 1)
    if divisor_override:
        out = total / divisor_override
    elif count_include_pad and not (extra[0] or extra[1]):
        out = total / (k[0] * k[1])
    else:
        # Count the cells of each window that lie in the input (plus its padding when asked).
        ones = T.ones(1, 1, h, w, dtype=x.dtype, device=x.device)
        if count_include_pad:
            ones = _core.pad(ones, [p[1], p[1], p[0], p[0]], 1.0)
            ones = _core.pad(ones, [0, extra[1], 0, extra[0]], 0.0)
            counts = T.sum(_core.im2col(ones, k, d, (0, 0), s, 0.0), 1)
        else:
            ones = _core.pad(ones, [0, extra[1], 0, extra[0]], 0.0)
            counts = T.sum(_core.im2col(ones, k, d, p, s, 0.0), 1)
        out = total / counts
    out = out.reshape(n, c, oh, ow)
    return out.squeeze(0) if unbatched else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    x, unbatched = _batched(input, 3, "max_pool1d")
    k = kernel_size if isinstance(kernel_size, numbers.Integral) else kernel_size[0]
    s = k if stride in (None, ()) else (stride if isinstance(stride, numbers.Integral) else stride[0])
    p = padding if isinstance(padding, numbers.Integral) else padding[0]
    dl = dilation if isinstance(dilation, numbers.Integral) else dilation[0]
    out, indices = max_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), (1, dl), ceil_mode, True)
    # Indices into the [1, L] plane are indices into L.
    out, indices = out.squeeze(2), indices.squeeze(2)
    if unbatched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    x, unbatched = _batched(input, 3, "avg_pool1d")
    k = kernel_size if isinstance(kernel_size, numbers.Integral) else kernel_size[0]
    s = k if stride in (None, ()) else (stride if isinstance(stride, numbers.Integral) else stride[0])
    p = padding if isinstance(padding, numbers.Integral) else padding[0]
    out = avg_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _check_output_size(x, oh, ow):
    """Refuses an output too large to allocate before the loops below build it cell by cell."""
    _core.check_alloc([x.shape[0], x.shape[1], oh, ow], x._dtype)


def _adaptive_size(x, output_size, name):
    """(oh, ow) of an adaptive pool: None keeps the input's size; 0 gives an empty output."""
    oh, ow = (output_size, output_size) if isinstance(output_size, numbers.Integral) else output_size
    oh, ow = x.shape[-2] if oh is None else int(oh), x.shape[-1] if ow is None else int(ow)
    if oh < 0 or ow < 0:
        raise RuntimeError(f"{name}: elements of output_size must be greater than or equal to 0 but received {(oh, ow)}")
    if x.shape[-2] * x.shape[-1] == 0:
        raise RuntimeError(f"{name}: Expected input to have non-zero size for non-batch dimensions, but input has sizes {list(x.shape)}")
    return oh, ow


def adaptive_avg_pool2d(input, output_size):
    x, unbatched = _batched(input, 4, "adaptive_avg_pool2d")
    oh, ow = _adaptive_size(x, output_size, "adaptive_avg_pool2d")
    h, w = x.shape[-2:]
    _check_output_size(x, oh, ow)
    if oh * ow == 0:
        out = T.zeros(*x.shape[:2], oh, ow, dtype=x.dtype, device=x.device)
    elif h % oh == 0 and w % ow == 0:
        out = avg_pool2d(x, (h // oh, w // ow))
    else:
        rows = []
        for i in range(oh):
            h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            cols = []
            for j in range(ow):
                w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
                cols.append(x[:, :, h0:h1, w0:w1].mean((-2, -1)))
            rows.append(T.stack(cols, -1))
        out = T.stack(rows, -2)
    return out.squeeze(0) if unbatched else out


def adaptive_max_pool2d(input, output_size, return_indices=False):
    x, unbatched = _batched(input, 4, "adaptive_max_pool2d")
    oh, ow = _adaptive_size(x, output_size, "adaptive_max_pool2d")
    h, w = x.shape[-2:]
    if oh * ow == 0:
        out = T.zeros(*x.shape[:2], oh, ow, dtype=x.dtype, device=x.device)
        return out.squeeze(0) if unbatched else out
    _check_output_size(x, oh, ow)
    rows = []
    for i in range(oh):
        h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        rows.append(T.stack([T.amax(x[:, :, h0:h1, (j * w) // ow:-(-((j + 1) * w) // ow)], (-2, -1)) for j in range(ow)], -1))
    out = T.stack(rows, -2)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool1d(input, output_size):
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, output_size)).squeeze(-2)


# ---------------------------------------------------------------------------- normalisation

def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, {', '.join(map(str, normalized_shape))}], but got input of size{list(input.shape)}")
    dims = tuple(range(-k, 0))
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, unbiased=False, keepdim=True)
    out = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    c = input.shape[1]
    dims = [0] + list(range(2, input.ndim))
    shape = [1, c] + [1] * (input.ndim - 2)
    if training:
        n = input.numel() // c
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape!r}")
        mean = input.mean(dims)
        var = input.var(dims, unbiased=False)
        if running_mean is not None:
            from ..autograd import no_grad
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                running_var.mul_(1 - momentum).add_(var.detach() * (momentum * n / (n - 1)))
    else:
        mean, var = running_mean, running_var
    out = (input - mean.reshape(shape)) * (var.reshape(shape) + eps).rsqrt()
    return _channel_affine(out, weight, bias, shape)


def _channel_affine(out, weight, bias, shape):
    """out * weight + bias, each parameter (None: none) viewed as `shape` to broadcast per channel."""
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    n, c = input.shape[:2]
    if c % num_groups:  # (num_groups == 0 raises ZeroDivisionError, as in PyTorch)
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(input.shape)} and num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    out = ((x - mean) * (var + eps).rsqrt()).reshape(input.shape)
    shape = [1, c] + [1] * (input.ndim - 2)
    return _channel_affine(out, weight, bias, shape)


# ---------------------------------------------------------------------------- losses

def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_same_size(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        import warnings
        warnings.warn(f"Using a target size ({list(target.shape)}) that is different to the input size ({list(input.shape)}). This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.", stacklevel=3)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_same_size(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_same_size(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    loss = T.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}")
    d = (input - target).abs()
    loss = T.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(loss, reduction)


def _class_dim_last(input):
    """[N, C, d1, ...] -> [N*d1*..., C] and the matching target reshape."""
    if input.ndim <= 2:
        return input
    c = input.shape[1]
    return T.movedim(input, 1, -1).reshape(-1, c)


def _class_rows(input, target):
    """Checks class-index targets against [N, C, d1, ...] scores (or unbatched [C]); returns the
    scores as rows [N*d1*..., C], the flat targets, and the shape of an unreduced loss."""
    if target.dtype is not int64:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype}")
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    unbatched = input.ndim == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.reshape(1)
    if input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({target.shape[0]}).")
    if input.ndim > 2 and tuple(input.shape[2:]) != tuple(target.shape[1:]):
        raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: {list(target.shape)})")
    out_shape = target.shape[1:] if unbatched else target.shape
    return _class_dim_last(input), target.reshape(-1), out_shape


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    x, t, out_shape = _class_rows(input, target)
    c = x.shape[1]
    valid = t != ignore_index
    safe = T.where(valid, t, 0)
    if t.numel():
        bad = valid & ((t < 0) | (t >= c))
        if bad.any().item():
            raise IndexError(f"Target {int(t.cpu()[bad.cpu()][0].item())} is out of bounds.")
    picked = T.gather(x, 1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(x.dtype)
    if weight is not None:
        w = w * T.index_select(weight, 0, safe)
    loss = -picked * w
    if reduction == "mean":
        return loss.sum() / w.sum()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss.reshape(out_shape)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0):
    if input._dtype in _REDUCED_FLOATS:
        # As PyTorch: log-probabilities rounded to the input's dtype, then reduced in float32.
        logp = T.log_softmax(input, 0 if input.ndim == 1 else 1)
        return cross_entropy(logp.float(), _float32(target), _float32(weight), size_average, ignore_index, reduce,
                             reduction, label_smoothing).to(input.dtype)
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    # PyTorch applies smoothing only when it is positive: a negative value means none.
    label_smoothing = max(label_smoothing, 0.0)
    if not target.dtype.is_floating_point and label_smoothing == 0:
        x, t, out_shape = _class_rows(input, target)
        loss = _core.cross_entropy(x, t, weight, ignore_index, reduction)
        return loss.reshape(out_shape) if reduction == "none" else loss
    class_dim = 0 if input.ndim == 1 else 1
    logp = T.log_softmax(input, class_dim)
    c = input.shape[class_dim]
    if target.dtype.is_floating_point:
        # Class probabilities.
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        wshape = [1] * input.ndim
        wshape[class_dim] = c
        terms = logp * target
        if weight is not None:
            terms = terms * weight.reshape(wshape)
        loss = -terms.sum(class_dim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // c if input.ndim > 1 else 1)
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    # PyTorch's label smoothing: mix in the mean of -log p over classes (weighted).
    wshape = [1] * input.ndim
    wshape[class_dim] = c
    terms = logp if weight is None else logp * weight.reshape(wshape)
    smooth = -terms.sum(class_dim)
    valid = target != ignore_index
    smooth = T.where(valid, smooth, 0.0)
    if reduction == "mean":
        if weight is not None:
            denom = T.index_select(weight, 0, T.where(valid, target, 0).reshape(-1))
            denom = (denom * valid.reshape(-1).to(denom.dtype)).sum()
        else:
            denom = valid.sum()
        smooth = smooth.sum() / denom
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + (label_smoothing / c) * smooth


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Using a target size ({list(target.shape)}) that is different to the input size ({list(input.shape)}) is deprecated. Please ensure they have the same size.")
    if input.numel() and ((input.detach() < 0) | (input.detach() > 1)).any().item():
        raise RuntimeError("all elements of input should be between 0 and 1")
    if target.numel() and ((target.detach() < 0) | (target.detach() > 1)).any().item():
        raise RuntimeError("all elements of target should be between 0 and 1")
    # PyTorch clamps the logs at -100 so that 0 and 1 inputs give finite losses.
    log_p = T.clamp(input.log(), min=-100.0)
    log_1mp = T.clamp((1 - input).log(), min=-100.0)
    loss = -(target * log_p + (1 - target) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Target size ({list(target.shape)}) must be the same as input size ({list(input.shape)})")
    # Stable form: (1 - t) x + lw * (log1p(exp(-|x|)) + max(-x, 0)), lw = 1 + (pw - 1) t.
    softplus_neg = (-input.abs()).exp().log1p() + (-input).relu()
    if pos_weight is not None:
        log_weight = 1 + (pos_weight - 1) * target
        loss = (1 - target) * input + log_weight * softplus_neg
    else:
        loss = (1 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t) - t * input: 0 where t == 0, NaN where t < 0 (as in PyTorch).
        loss = T.where(target == 0, 0.0, target * target.log()) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0]
    return _reduce(loss, reduction)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    num = (x1 * x2).sum(dim)
    den = T.clamp(T.norm(x1, 2, dim), min=eps) * T.clamp(T.norm(x2, 2, dim), min=eps)
    return num / den


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return T.norm(x1 - x2 + eps, p, -1, keepdim)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    d = query.shape[-1]
    scores = T.matmul(query, key.transpose(-2, -1)) * (scale if scale is not None else 1.0 / math.sqrt(d))
    if is_causal:
        L, S = query.shape[-2], key.shape[-2]
        causal = T.arange(S, device=query.device).unsqueeze(0) <= T.arange(L, device=query.device).unsqueeze(1)
        scores = T.masked_fill(scores, ~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype is T.bool_:
            scores = T.masked_fill(scores, ~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    attn = T.softmax(scores, -1)
    if dropout_p > 0:
        attn = dropout(attn, dropout_p)
    return T.matmul(attn, value)


# ============================================================================ PyTorch parity (issue 17)
# Layers composed from differentiable core ops, so they run with autograd on every device.

# ---------------------------------------------------------------------------- activations

# (The zero branches are input * 0 so that NaN stays NaN, as in PyTorch.)
def hardshrink(input, lambd=0.5):
    T._require_float(input, "hardshrink")
    return T.where((input > lambd) | (input < -lambd), input, input * 0)


def softshrink(input, lambd=0.5):
    T._require_float(input, "softshrink")
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return T.where(input > lambd, input - lambd, T.where(input < -lambd, input + lambd, input * 0))


def tanhshrink(input):
    return input - input.tanh()


def glu(input, dim=-1):
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    if input.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size "
                           f"{input.shape[dim]}")
    a, b = T.chunk(input, 2, dim)
    return a * b.sigmoid()


def prelu(input, weight):
    if weight.numel() > 1 and input.ndim >= 2:
        weight = weight.reshape([1, -1] + [1] * (input.ndim - 2))
    return T.where(input >= 0, input, input * weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    if training:
        # A slope drawn uniformly from [lower, upper] for each element, as PyTorch's training mode does.
        slope = T.rand_like(input.detach()) * (upper - lower) + lower
    else:
        slope = (lower + upper) / 2
    return _inplace_result(input, inplace, lambda input: T.where(input >= 0, input, input * slope))


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def selu_(input):
    return selu(input, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


_threshold = threshold  # (threshold_'s argument of the same name hides the function)


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, inplace=True)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    gumbels = -T.empty_like(logits.detach()).exponential_().log()
    y_soft = T.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    ones = T.ones(tuple(index.shape), dtype=logits.dtype, device=logits.device)
    y_hard = T.scatter(T.zeros_like(logits.detach()), dim, index, ones)
    # Straight-through: the forward value is one-hot, the gradient that of the soft sample.
    return y_hard - y_soft.detach() + y_soft


# ---------------------------------------------------------------------------- similarity

def pdist(input, p=2):
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    n = input.shape[0]
    rows, cols = np.triu_indices(n, 1)
    device = input.device
    a = T.index_select(input, 0, T.tensor(rows, dtype=int64, device=device))
    b = T.index_select(input, 0, T.tensor(cols, dtype=int64, device=device))
    return T.norm(a - b, p, -1)


# ---------------------------------------------------------------------------- normalisation

_EPS = {float32: 1.1920928955078125e-07, float64: 2.220446049250313e-16}


def rms_norm(input, normalized_shape, weight=None, eps=None):
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got input of size{list(input.shape)}")
    if eps is None:
        eps = _EPS.get(input.dtype, _EPS[float32])
    dims = tuple(range(-k, 0))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher input to instance_norm (got {input.ndim}D input)")
    c = input.shape[1]
    shape = [1, c] + [1] * (input.ndim - 2)
    if use_input_stats:
        dims = tuple(range(2, input.ndim))
        n = input.numel() // (input.shape[0] * c)
        mean = input.mean(dims, keepdim=True)
        var = input.var(dims, unbiased=False, keepdim=True)
        if running_mean is not None:
            from ..autograd import no_grad
            with no_grad():
                # The running statistics average the per-instance statistics over the batch.
                running_mean.mul_(1 - momentum).add_(mean.detach().reshape(-1, c).mean(0) * momentum)
                unbiased = var.detach().reshape(-1, c).mean(0) * (n / max(n - 1, 1))
                running_var.mul_(1 - momentum).add_(unbiased * momentum)
        out = (input - mean) * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError("Expected running_mean and running_var to be defined when use_input_stats is false")
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    return _channel_affine(out, weight, bias, shape)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    # The mean of squares over a window of `size` channels (zero-padded as PyTorch does).
    squares = T.movedim(input * input, 1, -1)
    squares = _core.pad(squares, [size // 2, (size - 1) // 2], 0.0)
    div = T.movedim(squares.unfold(-1, size, 1).mean(-1), -1, 1)
    return input / (div * alpha + k).pow(beta)


# ---------------------------------------------------------------------------- windows over N spatial dims

def _ntuple_arg(v, n, name):
    if isinstance(v, numbers.Integral):
        return (int(v),) * n
    v = tuple(int(x) for x in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v}")
    return v


def _batched_nd(input, n_spatial, name):
    return _batched(input, n_spatial + 2, name)


def _pool_geometry_nd(in_size, kernel, stride, padding, dilation, ceil_mode):
    """Output size and right padding (padding plus ceil_mode's extra) per spatial dim."""
    out_size, right = [], []
    for i in range(len(in_size)):
        span = dilation[i] * (kernel[i] - 1) + 1
        room = in_size[i] + 2 * padding[i] - span
        if room < 0:
            raise RuntimeError(f"Given input size per channel: {list(in_size)}. Calculated output size is too "
                               f"small for kernel {list(kernel)}, padding {list(padding)}, dilation {list(dilation)}")
        o = room // stride[i] + 1
        if ceil_mode:
            o_ceil = -(-room // stride[i]) + 1
            # The last window must start inside the input or the left padding.
            if o_ceil > o and (o_ceil - 1) * stride[i] < in_size[i] + padding[i]:
                o = o_ceil
        out_size.append(o)
        right.append(max(padding[i], (o - 1) * stride[i] + span - in_size[i] - padding[i]))
    return out_size, right


def _pad_list(left, right):
    """F.pad's order (last dim first) from per-dim left and right padding."""
    return [v for i in reversed(range(len(left))) for v in (left[i], right[i])]


@functools.lru_cache(maxsize=256)
def _window_table(in_size, kernel, stride, padding, dilation, ceil_mode):
    """Index tables for pooling windows over N spatial dims: for every output cell (row) and kernel
    offset (column), the flat index into the input padded by `pads` (right pads include ceil_mode's
    extra), and the flat index into the unpadded input (0 where the window is over padding).
    Returns (pads, out_size, padded, unpadded)."""
    out_size, right = _pool_geometry_nd(in_size, kernel, stride, padding, dilation, ceil_mode)
    padded_size = [in_size[i] + padding[i] + right[i] for i in range(len(in_size))]
    padded, unpadded = np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64)
    inside = np.ones((1, 1), bool)
    for i in range(len(in_size)):
        # The padded coordinate of each (output, kernel offset) pair along this dim.
        c = np.arange(out_size[i])[:, None] * stride[i] + np.arange(kernel[i])[None, :] * dilation[i]
        orig = c - padding[i]
        # Combine with the previous dims: rows (out cells) and columns (kernel offsets) multiply out.
        shape = (padded.shape[0] * c.shape[0], padded.shape[1] * c.shape[1])
        padded = (padded[:, None, :, None] * padded_size[i] + c[None, :, None, :]).reshape(shape)
        unpadded = (unpadded[:, None, :, None] * in_size[i] +
                    np.clip(orig, 0, in_size[i] - 1)[None, :, None, :]).reshape(shape)
        inside = (inside[:, None, :, None] & ((orig >= 0) & (orig < in_size[i]))[None, :, None, :]).reshape(shape)
    return _pad_list(padding, right), tuple(out_size), padded, np.where(inside, unpadded, 0)


def _gather_windows(x, n_spatial, pads, table, fill):
    """[N, C, *spatial] -> [N, C, out cells, kernel offsets], padding the input with `fill` first."""
    if any(pads):
        x = _core.pad(x, list(pads), fill)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    idx = T.tensor(table.reshape(-1), dtype=int64, device=x.device)
    return T.index_select(flat, 2, idx).reshape(x.shape[0], x.shape[1], table.shape[0], table.shape[1])


def _max_pool_nd(input, n, kernel_size, stride, padding, dilation, ceil_mode, return_indices, name):
    x, unbatched = _batched_nd(input, n, name)
    k = _ntuple_arg(kernel_size, n, "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _ntuple_arg(stride, n, "stride")
    p, d = _ntuple_arg(padding, n, "padding"), _ntuple_arg(dilation, n, "dilation")
    if any(p[i] > k[i] // 2 for i in range(n)):
        raise RuntimeError(f"{name}: pad should be at most half of effective kernel size, but got pad={list(p)}, "
                           f"kernel_size={list(k)} and dilation={list(d)}")
    pads, out_size, padded, unpadded = _window_table(tuple(x.shape[2:]), k, s, p, d, bool(ceil_mode))
    windows = _gather_windows(x, n, pads, padded, float("-inf"))
    values, arg = windows.max(-1)
    out_shape = list(x.shape[:2]) + list(out_size)
    values = values.reshape(out_shape)
    if not return_indices:
        return values.squeeze(0) if unbatched else values
    indices = _table_lookup(unpadded, arg).reshape(out_shape)
    if unbatched:
        return values.squeeze(0), indices.squeeze(0)
    return values, indices


def _table_lookup(table, column):
    """table[row, column[..., row]] for a host table [rows, width] and column indices [..., rows]."""
    rows = T.arange(table.shape[0], device=column.device) * table.shape[1]
    flat = T.tensor(table.reshape(-1), dtype=int64, device=column.device)
    return T.index_select(flat, 0, (rows + column).reshape(-1)).reshape(column.shape)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool_nd(input, 3, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool3d")


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    x, unbatched = _batched_nd(input, 3, "avg_pool3d")
    k = _ntuple_arg(kernel_size, 3, "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _ntuple_arg(stride, 3, "stride")
    p = _ntuple_arg(padding, 3, "padding")
    if any(p[i] > k[i] // 2 for i in range(3)):
        raise RuntimeError(f"avg_pool3d: pad should be at most half of kernel size, but got pad={list(p)} and "
                           f"kernel_size={list(k)}")
    in_size = tuple(x.shape[2:])
    out_size, right = _pool_geometry_nd(in_size, k, s, p, (1, 1, 1), bool(ceil_mode))
    total = _core.pad(x, _pad_list(p, right), 0.0)
    # A box sum is separable: sum the windows of one dim at a time (unfold views).
    for i in range(3):
        total = total.unfold(2 + i, k[i], s[i]).sum(-1)
    if divisor_override:
        out = total / divisor_override
    else:
        # The divisor is separable too: per dim, the window's cells in the padded input (PyTorch's
        # count_include_pad, which leaves out ceil_mode's extra) or in the input itself.
        divisor = np.ones(())
        for i in range(3):
            start = np.arange(out_size[i]) * s[i] - p[i]
            end = np.minimum(start + k[i], in_size[i] + p[i])
            count = end - start if count_include_pad else np.minimum(end, in_size[i]) - np.maximum(start, 0)
            divisor = np.multiply.outer(divisor, count)
        out = total / T.tensor(divisor, dtype=x.dtype, device=x.device)
    return out.squeeze(0) if unbatched else out


def _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, n):
    k = _ntuple_arg(kernel_size, n, "kernel_size")
    pool = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}[n]
    out = pool(input.pow(norm_type), k, stride, 0, ceil_mode)
    return (out.sign() * relu(out.abs())).mul(math.prod(k)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)


def _adaptive_bins(size, out):
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_output_size(x, output_size, n):
    """output_size as n ints; None keeps the input's size along that dim."""
    sizes = (output_size,) * n if output_size is None or isinstance(output_size, numbers.Integral) \
        else tuple(output_size)
    if len(sizes) == 1:
        sizes = sizes * n
    if len(sizes) != n:
        raise ValueError(f"output_size must be an int or {n} ints, got {output_size}")
    return tuple(x.shape[2 + i] if sizes[i] is None else int(sizes[i]) for i in range(n))


def adaptive_avg_pool3d(input, output_size):
    x, unbatched = _batched_nd(input, 3, "adaptive_avg_pool3d")
    out_size = _adaptive_output_size(x, output_size, 3)
    out = x
    # Averaging over a box is separable: one averaging matrix per spatial dim.
    for i, o in enumerate(out_size):
        n = x.shape[2 + i]
        avg = np.zeros((n, o))
        for j, (lo, hi) in enumerate(_adaptive_bins(n, o)):
            avg[lo:hi, j] = 1.0 / (hi - lo)
        moved = T.movedim(out, 2 + i, -1)
        out = T.movedim(T.matmul(moved, T.tensor(avg, dtype=x.dtype, device=x.device)), -1, 2 + i)
    return out.squeeze(0) if unbatched else out


@functools.lru_cache(maxsize=256)
def _adaptive_table(in_size, out_size):
    """Adaptive windows as a fixed-width index table: shorter windows repeat their first cell,
    which changes neither the max nor the index of its first occurrence."""
    per_dim = []
    for n, o in zip(in_size, out_size):
        bins = _adaptive_bins(n, o)
        width = max(hi - lo for lo, hi in bins)
        per_dim.append(np.array([[lo + (j if lo + j < hi else 0) for j in range(width)] for lo, hi in bins]))
    table = np.zeros((1, 1), np.int64)
    for n, t in zip(in_size, per_dim):
        table = table[:, None, :, None] * n + t[None, :, None, :]
        table = table.reshape(table.shape[0] * table.shape[1], table.shape[2] * table.shape[3])
    return table


def _adaptive_max_pool_nd(input, output_size, return_indices, n, name):
    x, unbatched = _batched_nd(input, n, name)
    out_size = _adaptive_output_size(x, output_size, n)
    table = _adaptive_table(tuple(x.shape[2:]), out_size)
    values, arg = _gather_windows(x, n, (), table, 0.0).max(-1)
    out_shape = list(x.shape[:2]) + list(out_size)
    values = values.reshape(out_shape)
    if not return_indices:
        return values.squeeze(0) if unbatched else values
    indices = _table_lookup(table, arg).reshape(out_shape)
    return (values.squeeze(0), indices.squeeze(0)) if unbatched else (values, indices)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd(input, output_size, True, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool3d(input, output_size, True)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, n, name):
    if indices.dtype is not int64:
        raise RuntimeError(f"{name}: expected indices to have dtype int64, but got {indices.dtype}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{name}: expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}")
    x, unbatched = _batched_nd(input, n, name)
    idx = indices.unsqueeze(0) if unbatched else indices
    k = _ntuple_arg(kernel_size, n, "kernel_size")
    s = k if stride is None else _ntuple_arg(stride, n, "stride")
    p = _ntuple_arg(padding, n, "padding")
    default = [(x.shape[2 + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(n)]
    if output_size is None:
        size = default
    else:
        size = [int(v) for v in output_size][-n:]
        for i in range(n):
            if not default[i] - s[i] < size[i] < default[i] + s[i]:
                raise ValueError(f"invalid output_size {list(output_size)} (dim {i} must be between "
                                 f"{default[i] - s[i]} and {default[i] + s[i]})")
    total = math.prod(size)
    flat_idx = idx.reshape(idx.shape[0], idx.shape[1], -1)
    if flat_idx.numel() and ((flat_idx < 0) | (flat_idx >= total)).any().item():
        raise RuntimeError(f"{name}: found an invalid max index (output volume is {total} for output size {size})")
    out = T.zeros(list(x.shape[:2]) + [total], dtype=x.dtype, device=x.device)
    out = T.scatter(out, 2, flat_idx, x.reshape(x.shape[0], x.shape[1], -1)).reshape(list(x.shape[:2]) + size)
    return out.squeeze(0) if unbatched else out


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")


# ---------------------------------------------------------------------------- 3-D and 1-D convolutions

def _same_padding(weight, dilation, n):
    """Left/right padding per spatial dim for padding='same' (the extra cell on the right)."""
    pads = []
    for i in range(n):
        total = dilation[i] * (weight.shape[2 + i] - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, unbatched = _batched(input, 5, "conv3d")
    if weight.ndim != 5:
        raise RuntimeError(f"conv3d: expected a 5-D weight, got weight of size {list(weight.shape)}")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got {x.shape[1]} "
                           f"channels instead")
    s, d = _ntuple_arg(stride, 3, "stride"), _ntuple_arg(dilation, 3, "dilation")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
        p = (0, 0, 0)
        if padding == "same":
            if s != (1, 1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            x = _core.pad(x, [v for lr in reversed(_same_padding(weight, d, 3)) for v in lr], 0.0)
    else:
        p = _ntuple_arg(padding, 3, "padding")
    if p[0]:
        x = _core.pad(x, [0, 0, 0, 0, p[0], p[0]], 0.0)
    n, c, depth, h, w = x.shape
    o, _, kd = weight.shape[:3]
    out_depth = (depth - d[0] * (kd - 1) - 1) // s[0] + 1
    if out_depth <= 0:
        raise RuntimeError(f"conv3d: input of size {list(input.shape)} is smaller than the kernel "
                           f"{list(weight.shape[2:])} (dilation {list(d)}, padding {list(p)})")
    out = None
    # A 3-D convolution is a sum over kernel depth of 2-D convolutions of strided depth slices.
    for j in range(kd):
        start = j * d[0]
        planes = x[:, :, start:start + (out_depth - 1) * s[0] + 1:s[0]]
        planes = planes.transpose(1, 2).reshape(n * out_depth, c, h, w)
        term = _core.conv2d(planes, weight[:, :, j], None, s[1:], p[1:], d[1:], groups)
        out = term if out is None else out + term
    out = out.reshape(n, out_depth, o, out.shape[-2], out.shape[-1]).transpose(1, 2)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1, 1)
    return out.squeeze(0) if unbatched else out


def _conv_transpose_groups(x, weight, groups, transpose_fn):
    """Splits a grouped transposed convolution into one per group (weight [C_in, C_out/groups, ...])."""
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} "
                           f"to have {weight.shape[0]} channels, but got {x.shape[1]} channels instead")
    if groups == 1:
        return transpose_fn(x, weight)
    if x.shape[1] % groups or weight.shape[0] % groups:
        raise RuntimeError(f"conv_transpose: input channels {x.shape[1]} and weight {list(weight.shape)} must be "
                           f"divisible by groups={groups}")
    cin = weight.shape[0] // groups
    return T.cat([transpose_fn(x[:, g * cin:(g + 1) * cin], weight[g * cin:(g + 1) * cin]) for g in range(groups)],
                 1)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    x, unbatched = _batched(input, 3, "conv_transpose1d")
    s, p = _ntuple_arg(stride, 1, "stride"), _ntuple_arg(padding, 1, "padding")
    op, d = _ntuple_arg(output_padding, 1, "output_padding"), _ntuple_arg(dilation, 1, "dilation")
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s[0]), (0, p[0]), (0, op[0]), groups,
                           (1, d[0])).squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    x, unbatched = _batched(input, 5, "conv_transpose3d")
    if weight.ndim != 5 or x.shape[1] != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} "
                           f"to have {weight.shape[0]} channels, but got {x.shape[1]} channels instead")
    s, p = _ntuple_arg(stride, 3, "stride"), _ntuple_arg(padding, 3, "padding")
    op, d = _ntuple_arg(output_padding, 3, "output_padding"), _ntuple_arg(dilation, 3, "dilation")
    n, c, depth, h, w = x.shape
    kd = weight.shape[2]
    full_depth = (depth - 1) * s[0] + d[0] * (kd - 1) + 1 + op[0]
    out_depth = full_depth - 2 * p[0]
    planes = x.transpose(1, 2).reshape(n * depth, c, h, w)
    out = None
    # Each kernel depth slice is a 2-D transposed convolution whose planes land at depth i*stride + j*dilation.
    for j in range(kd):
        term = conv_transpose2d(planes, weight[:, :, j], None, s[1:], p[1:], op[1:], groups, d[1:])
        term = term.reshape(n, depth, term.shape[1], term.shape[2], term.shape[3])
        if out is None:
            out = T.zeros((n, full_depth) + tuple(term.shape[2:]), dtype=term.dtype, device=term.device)
        positions = T.arange(depth, device=x.device) * s[0] + j * d[0]
        out = T.index_add(out, 1, positions, term)
    out = out[:, p[0]:p[0] + out_depth].transpose(1, 2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out.squeeze(0) if unbatched else out


# ---------------------------------------------------------------------------- dropout variants

def _check_p(p):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _feature_dropout(input, p, training, inplace, spatial, name):
    """Zeroes whole channels; accepts batched ([N, C, *spatial]) and unbatched ([C, *spatial]) input."""
    _check_p(p)
    if input.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{name}: Expected {spatial + 1}D or {spatial + 2}D input, but received a "
                           f"{input.ndim}D input. Note that {name} exists to provide channel-wise dropout on inputs "
                           f"with {spatial} spatial dimension{'s' if spatial > 1 else ''}, a channel dimension, and "
                           f"an optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D inputs).")
    if not training or p == 0:
        return input
    if p == 1:
        return _inplace_result(input, inplace, lambda input: input * 0.0)
    batched = input.ndim == spatial + 2
    shape = list(input.shape[:2] if batched else input.shape[:1]) + [1] * spatial
    keep = _core.bernoulli_mask(shape, 1.0 - p, input._dtype)
    if input.device.type != "cpu":
        keep = keep.to(input.device)
    return _inplace_result(input, inplace, lambda input: input * keep * (1.0 / (1.0 - p)))


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 3, "dropout3d")


_SELU_ALPHA_P = -1.7580993408473766  # -selu's scale * alpha: the value a dropped unit takes


def _alpha_dropout(input, p, training, inplace, mask_shape):
    _check_p(p)
    if not training or p == 0:
        return input
    if p == 1:
        return _inplace_result(input, inplace, lambda input: input * 0.0)
    keep = _core.bernoulli_mask(mask_shape, 1.0 - p, input._dtype)
    if input.device.type != "cpu":
        keep = keep.to(input.device)
    # Scale and shift that keep zero mean and unit variance for self-normalising (SELU) nets.
    a = ((1 - p) * (1 + p * _SELU_ALPHA_P ** 2)) ** -0.5
    b = -a * _SELU_ALPHA_P * p
    return _inplace_result(input, inplace, lambda input: (input * keep + _SELU_ALPHA_P * (1 - keep)) * a + b)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _alpha_dropout(input, p, training, inplace, list(input.shape))


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    if input.ndim < 2:
        raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input, got {input.ndim}")
    return _alpha_dropout(input, p, training, inplace, list(input.shape[:2]) + [1] * (input.ndim - 2))


# ---------------------------------------------------------------------------- resampling

_INTERP_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_INTERP_DIMS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def _cubic_near(x, a=-0.75):
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic_far(x, a=-0.75):
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _aa_filter(mode, x):
    x = np.abs(x)
    if mode == "bilinear":
        return np.maximum(1.0 - x, 0.0)
    # Keys' cubic with a = -0.5, as PyTorch's antialiased bicubic.
    return np.where(x < 1.0, _cubic_near(x, -0.5), np.where(x < 2.0, _cubic_far(x, -0.5), 0.0))


def _antialias_taps(mode, n_in, n_out, align_corners, scale_factor):
    """PyTorch's antialiased resampling weights: when shrinking, the filter is stretched by the
    scale so that every input cell contributes; the weights of each output cell sum to 1."""
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        scale = 1.0 / scale_factor if scale_factor else n_in / n_out
    interp_size = 2 if mode == "bilinear" else 4
    support = interp_size * 0.5 * scale if scale >= 1.0 else interp_size * 0.5
    inv_scale = 1.0 / scale if scale >= 1.0 else 1.0
    rows = []
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        size = min(int(center + support + 0.5), n_in) - lo
        w = _aa_filter(mode, (np.arange(size) + lo - center + 0.5) * inv_scale)
        total = w.sum()
        rows.append((lo, w / total if total != 0 else w))
    width = max(len(w) for _, w in rows)
    taps = []
    for j in range(width):
        idx = np.array([min(lo + j, n_in - 1) for lo, _ in rows])
        weight = np.array([w[j] if j < len(w) else 0.0 for _, w in rows])
        taps.append((idx, weight))
    return taps


def _interp_taps(mode, n_in, n_out, align_corners, scale_factor, antialias=False):
    """Along one dim: a list of (input index per output cell, weight per output cell or None)."""
    if antialias:
        return _antialias_taps(mode, n_in, n_out, align_corners, scale_factor)
    dst = np.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        # In float32 as PyTorch's kernels, so that borderline cells pick the same source.
        scale = np.float32(1.0 / scale_factor if scale_factor else n_in / n_out)
        offset = np.float32(0.5 if mode == "nearest-exact" else 0.0)
        return [(np.minimum(np.floor((dst.astype(np.float32) + offset) * scale).astype(np.int64), n_in - 1), None)]
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = scale * dst
    else:
        scale = 1.0 / scale_factor if scale_factor else n_in / n_out
        src = scale * (dst + 0.5) - 0.5
    if mode != "bicubic":
        src = np.maximum(src, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        frac = src - lo
        return [(lo, 1.0 - frac), (np.minimum(lo + 1, n_in - 1), frac)]
    start = np.floor(src)
    t = src - start
    weights = [_cubic_far(t + 1), _cubic_near(t), _cubic_near(1 - t), _cubic_far(2 - t)]
    return [(np.clip(start.astype(np.int64) - 1 + k, 0, n_in - 1), weights[k]) for k in range(4)]


# Up to this many (input, output) cell pairs along a dim, resampling multiplies by the dense
# [n_in, n_out] weight matrix (a gemm, forward and backward); beyond, it gathers the taps.
_DENSE_RESAMPLE_LIMIT = 256 * 512


def _apply_taps(x, dim, taps, n_in):
    n_out = len(taps[0][0])
    if n_in * n_out <= _DENSE_RESAMPLE_LIMIT:
        dense = np.zeros((n_in, n_out))
        for idx, weight in taps:
            np.add.at(dense, (idx, np.arange(n_out)), 1.0 if weight is None else weight)
        moved = T.movedim(x, dim, -1)
        return T.movedim(T.matmul(moved, T.tensor(dense, dtype=x.dtype, device=x.device)), -1, dim)
    out = None
    for idx, weight in taps:
        v = T.index_select(x, dim, T.tensor(idx, dtype=int64, device=x.device))
        if weight is not None:
            shape = [1] * x.ndim
            shape[dim] = len(idx)
            v = v * T.tensor(weight.reshape(shape), dtype=x.dtype, device=x.device)
        out = v if out is None else out + v
    return out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    if mode not in _INTERP_MODES:
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if input.ndim not in (3, 4, 5):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if mode in _INTERP_DIMS and input.ndim != _INTERP_DIMS[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_INTERP_DIMS[mode]}D input")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D tensor "
                         "as input")
    n = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        out_size = [int(size)] * n if isinstance(size, numbers.Integral) else [int(s) for s in size]
        if len(out_size) != n:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {spatial} and output size of {list(out_size)}. Please provide "
                             f"input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) "
                             f"format.")
        scales = [None] * n
    elif scale_factor is not None:
        scales = [float(scale_factor)] * n if isinstance(scale_factor, numbers.Real) else \
            [float(s) for s in scale_factor]
        if len(scales) != n:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {spatial} and scale_factor of shape {list(scale_factor)}. "
                             f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in "
                             f"(s1, s2, ...,sK) format.")
        out_size = [math.floor(spatial[i] * scales[i]) for i in range(n)]
        if recompute_scale_factor:
            scales = [None] * n
    else:
        raise ValueError("either size or scale_factor should be defined")
    if any(o <= 0 for o in out_size):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input {spatial} and output "
                           f"{out_size}")
    if mode == "area":
        return {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}[n](input, out_size)
    out = input
    for i in range(n):
        taps = _interp_taps(mode, spatial[i], out_size[i], align_corners, scales[i], antialias)
        out = _apply_taps(out, 2 + i, taps, spatial[i])
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input, upscale_factor):
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    x = input.reshape(-1, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(list(lead) + [c // (r * r), h * r, w * r])


def pixel_unshuffle(input, downscale_factor):
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height ({h}) and width ({w}) to be divisible by "
                           f"downscale_factor={r}")
    x = input.reshape(-1, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(list(lead) + [c * r * r, h // r, w // r])


def channel_shuffle(input, groups):
    if input.ndim < 3:
        raise RuntimeError(f"channel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c = input.shape[:2]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    rest = list(input.shape[2:])
    return input.reshape([n, groups, c // groups] + rest).transpose(1, 2).reshape([n, c] + rest)


native_channel_shuffle = channel_shuffle


def _base_coords(n, align_corners):
    if n <= 1:
        return np.zeros(max(n, 1))
    coords = np.linspace(-1.0, 1.0, n)
    return coords if align_corners else coords * (n - 1) / n


def affine_grid(theta, size, align_corners=None):
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(s) for s in size]
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got "
                             f"{list(theta.shape)}.")
        axes = [_base_coords(size[3], align_corners), _base_coords(size[2], align_corners)]
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. Got "
                             f"{list(theta.shape)}.")
        axes = [_base_coords(size[4], align_corners), _base_coords(size[3], align_corners),
                _base_coords(size[2], align_corners)]
    else:
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    # Base grid rows [x, y, (z,) 1] in the output's (D,) H, W order.
    mesh = np.meshgrid(*reversed(axes), indexing="ij")
    base = np.stack([m.reshape(-1) for m in reversed(mesh)] + [np.ones(mesh[0].size)], -1)
    grid = T.matmul(T.tensor(base, dtype=theta.dtype, device=theta.device), theta.transpose(1, 2))
    return grid.reshape([size[0]] + size[2:] + [len(axes)])


def _reflect_coordinates(coord, twice_low, twice_high):
    if twice_low == twice_high:
        return T.zeros_like(coord)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    coord = (coord - low).abs()
    extra = T.fmod(coord, span)
    flips = (coord / span).floor()
    return T.where(T.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _grid_coordinates(coord, size, padding_mode, align_corners):
    if padding_mode == "border":
        return T.clamp(coord, 0, size - 1)
    if padding_mode == "reflection":
        if align_corners:
            coord = _reflect_coordinates(coord, 0, 2 * (size - 1))
        else:
            coord = _reflect_coordinates(coord, -1, 2 * size - 1)
        return T.clamp(coord, 0, size - 1)
    return coord


def _grid_values(rows, sizes, index):
    """Input cells at integer coordinates `index` (one [N, P] tensor per dim, last dim first) as
    [N, P, C], from `rows` [N * prod(sizes), C] (the input channels-last); out-of-range reads give
    zero. Whole channel rows are read by one index_select."""
    n, p = index[0].shape
    valid, linear, stride = None, None, 1
    for coord, size in zip(index, sizes):
        inside = (coord >= 0) & (coord < size)
        valid = inside if valid is None else valid & inside
        term = T.clamp(coord, 0, size - 1) * stride
        linear = term if linear is None else linear + term
        stride *= size
    linear = linear + T.arange(n, device=linear.device).unsqueeze(1) * stride
    values = T.index_select(rows, 0, linear.reshape(-1)).reshape(n, p, rows.shape[1])
    return values * valid.unsqueeze(2).to(rows.dtype)


def _grid_taps(rows, sizes, taps):
    """sum over taps of value(index) * weight as [N, P, C], for taps [(index per dim [N, P],
    weight [N, P])], read with one index_select over all taps."""
    n, p = taps[0][1].shape
    index = [T.cat([tap[0][d] for tap in taps], 1) for d in range(len(sizes))]
    weights = T.stack([tap[1] for tap in taps], 1).unsqueeze(3)  # [N, taps, P, 1]
    values = _grid_values(rows, sizes, index).reshape(n, len(taps), p, rows.shape[1])
    return (values * weights).sum(1)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if input.ndim not in (4, 5):
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but "
                           f"got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    n_spatial = input.ndim - 2
    if grid.ndim != input.ndim or grid.shape[0] != input.shape[0] or grid.shape[-1] != n_spatial:
        raise RuntimeError(f"grid_sampler(): expected grid of shape [N, *out, {n_spatial}] for input of sizes "
                           f"{list(input.shape)}, but got grid with sizes {list(grid.shape)}")
    if mode == "bicubic" and n_spatial != 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    align_corners = bool(align_corners)
    n, c = input.shape[:2]
    sizes = list(reversed(input.shape[2:]))  # grid[..., 0] indexes the last dim (x = width)
    rows = T.movedim(input, 1, -1).reshape(-1, c)
    out_spatial = list(grid.shape[1:-1])
    points = grid.reshape(n, -1, n_spatial)
    raw = [_grid_unnormalize(points[:, :, i], sizes[i], align_corners) for i in range(n_spatial)]
    if mode == "bicubic":
        start = [r.floor() for r in raw]
        frac = [r - s for r, s in zip(raw, start)]
        weights = [[_cubic_far(t + 1), _cubic_near(t), _cubic_near(1 - t), _cubic_far(2 - t)] for t in frac]
        taps = []
        for a in range(4):
            for b in range(4):
                index = [_grid_coordinates(start[0] + (a - 1), sizes[0], padding_mode, align_corners),
                         _grid_coordinates(start[1] + (b - 1), sizes[1], padding_mode, align_corners)]
                taps.append(([i.detach().to(int64) for i in index], weights[0][a] * weights[1][b]))
        out = _grid_taps(rows, sizes, taps)
    else:
        coords = [_grid_coordinates(r, s, padding_mode, align_corners) for r, s in zip(raw, sizes)]
        if mode == "nearest":
            out = _grid_values(rows, sizes, [T.round(x).detach().to(int64) for x in coords])
        else:
            lows = [x.floor() for x in coords]
            fracs = [x - lo for x, lo in zip(coords, lows)]
            taps = []
            # (Bi/tri)linear: the 2^n corners around each point, weighted by the opposite volumes.
            for corner in range(2 ** n_spatial):
                bits = [(corner >> i) & 1 for i in range(n_spatial)]
                weight = None
                for f, bit in zip(fracs, bits):
                    w = f if bit else 1 - f
                    weight = w if weight is None else weight * w
                taps.append(([(lo + bit).detach().to(int64) for lo, bit in zip(lows, bits)], weight))
            out = _grid_taps(rows, sizes, taps)
    # [N, P, C] -> [N, C, *out]
    return T.movedim(out, 2, 1).reshape([n, c] + out_spatial)


def _grid_unnormalize(coord, size, align_corners):
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


# ---------------------------------------------------------------------------- embedding bags

def _embedding_renorm_(weight, input, max_norm, norm_type):
    """max_norm: rescales (in place, no grad) the looked-up rows whose norm exceeds max_norm.
    Repeated indices rescale their row once: each copy writes the same rescaled row."""
    from ..autograd import no_grad
    with no_grad():
        idx = input.reshape(-1)
        rows = T.index_select(weight, 0, idx)
        norms = rows.norm(norm_type, 1, keepdim=True)
        scale = T.where(norms > max_norm, max_norm / (norms + 1e-7), T.ones_like(norms))
        weight[idx] = rows * scale


def _scale_grad_by_freq(rows, indices):
    """The looked-up rows, unchanged, whose gradient is divided by how often each index occurs in
    the batch (PyTorch's scale_grad_by_freq)."""
    _, inverse, counts = np.unique(indices.cpu().numpy().reshape(-1), return_inverse=True, return_counts=True)
    scale = T.tensor((1.0 / counts)[inverse].reshape(-1, 1), dtype=rows.dtype, device=rows.device)
    return rows * scale + (rows * (1 - scale)).detach()


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    if weight.dtype is int64 and input.is_floating_point():
        import warnings
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage `embedding_bag(weight, "
                      "input, ...)` is deprecated, and should now be `embedding_bag(input, weight, ...)`.",
                      stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, then "
                         f"it must have the same shape as the input ({list(input.shape)})")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.dtype is not int64:
        raise RuntimeError(f"embedding_bag: expected indices of dtype int64, but got {input.dtype}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets)}")
        starts = list(range(0, input.numel(), input.shape[1])) if input.shape[1] else [0] * input.shape[0]
        ends = starts[1:] + [input.numel()]
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        bounds = [int(v) for v in offsets.cpu().tolist()]
        if bounds and bounds[0] != 0:
            raise RuntimeError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                               f"from position 0. However, got {bounds[0]}")
        if include_last_offset:
            starts, ends = bounds[:-1], bounds[1:]
        else:
            starts, ends = bounds, bounds[1:] + [input.numel()]
        if any(e < s for s, e in zip(starts, ends)) or (ends and ends[-1] > input.numel()):
            raise RuntimeError(f"offsets {bounds} must be non-decreasing and within the input's {input.numel()} "
                               f"indices")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  f"GitHub.")
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    bags, width = len(starts), max([e - s for s, e in zip(starts, ends)] + [1])
    # Bags as rows of a [bags, width] table of positions into the looked-up rows; the extra
    # position input.numel() is a filler row (0 for sum/mean, -inf for max).
    table = np.full((bags, width), input.numel(), np.int64)
    for b, (s, e) in enumerate(zip(starts, ends)):
        table[b, :e - s] = np.arange(s, e)
    rows = T.index_select(weight, 0, input)
    if scale_grad_by_freq and input.numel():
        rows = _scale_grad_by_freq(rows, input)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(1)
    fill = float("-inf") if mode == "max" else 0.0
    filler = T.full((1, weight.shape[1]), fill, dtype=weight.dtype, device=weight.device)
    if padding_idx is not None:
        rows = T.where((input == padding_idx).unsqueeze(1), filler, rows)
    rows = T.cat([rows, filler], 0)
    gathered = T.index_select(rows, 0, T.tensor(table.reshape(-1), device=weight.device))
    gathered = gathered.reshape(bags, width, weight.shape[1])
    if mode == "max":
        out = gathered.amax(1)
        return T.where(out.isinf() & (out < 0), T.zeros_like(out), out)
    out = gathered.sum(1)
    if mode == "sum":
        return out
    counts = T.tensor([[float(e - s)] for s, e in zip(starts, ends)], dtype=weight.dtype, device=weight.device)
    if padding_idx is not None:
        is_pad = T.cat([(input == padding_idx).to(weight.dtype), T.zeros(1, dtype=weight.dtype, device=weight.device)])
        counts = counts - T.index_select(is_pad, 0, T.tensor(table.reshape(-1), device=weight.device)).reshape(
            bags, width).sum(1, keepdim=True)
    return out / T.clamp(counts, min=1.0)


# ---------------------------------------------------------------------------- more losses

def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if isinstance(var, numbers.Real):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = T.full_like(input, float(var))
    elif var.numel() and (var.detach() < 0).any().item():
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    # PyTorch clamps var in place under no_grad: the clamped value, with the gradient of the identity.
    detached = var.detach()
    var = var + (T.clamp(detached, min=eps) - detached)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        safe = T.where(target > 1, target, T.ones_like(target))
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + T.where(target > 1, stirling, T.zeros_like(stirling))
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: "
                           f"{list(target.shape)} ")
    return _reduce(T.clamp(-target * (input1 - input2) + margin, min=0.0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    zeros = T.zeros_like(input)
    loss = T.where(target != 1, T.clamp(margin - input, min=0.0), zeros) + T.where(target != -1, input, zeros)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(f"cosine_embedding_loss: expected 1D or 2D inputs of the same shape, got "
                           f"{list(input1.shape)} and {list(input2.shape)}")
    eps = 1e-12
    cos = (input1 * input2).sum(-1) / (((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps)).sqrt()  # noqa: E501
    zeros = T.zeros_like(cos)
    loss = T.where(target == 1, 1 - cos, zeros) + T.where(target == -1, T.clamp(cos - margin, min=0.0), zeros)
    return _reduce(loss, reduction)


def _check_triplet(anchor, positive, negative):
    a, p, n = anchor.ndim, positive.ndim, negative.ndim
    if not (a == p == n):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a}D, positive {p}D, and negative {n}D inputs")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_triplet(anchor, positive, negative)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = T.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(T.clamp(margin + d_pos - d_neg, min=0.0), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead")
    _check_triplet(anchor, positive, negative)
    distance = distance_function if distance_function is not None else pairwise_distance
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = T.minimum(d_neg, distance(positive, negative))
    return _reduce(T.clamp(margin + d_pos - d_neg, min=0.0), reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(softplus(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(input.ndim - 1) / input.shape[-1]
    return _reduce(loss, reduction)


def _class_scores(input, target, name):
    """[N, C] or unbatched [C] scores; returns 2-D scores, 2-D targets and whether to squeeze."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{name}: expected 1D or 2D input, got input of size {list(input.shape)}")
    if target.dtype is not int64:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype}")
    unbatched = input.ndim == 1
    return (input.unsqueeze(0) if unbatched else input), target, unbatched


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, t, unbatched = _class_scores(input, target, "multi_margin_loss")
    t = t.reshape(-1)
    if t.shape[0] != x.shape[0]:
        raise RuntimeError(f"inconsistent target size, expected {x.shape[0]} but got {list(target.shape)}")
    c = x.shape[1]
    if t.numel() and ((t < 0) | (t >= c)).any().item():
        raise IndexError(f"multi_margin_loss: target out of range for {c} classes")
    picked = T.gather(x, 1, t.unsqueeze(1))
    margins = T.clamp(margin - picked + x, min=0.0)
    if p == 2:
        margins = margins * margins
    if weight is not None:
        margins = margins * T.index_select(weight, 0, t).unsqueeze(1)
    others = T.arange(c, device=x.device).unsqueeze(0) != t.unsqueeze(1)
    loss = T.where(others, margins, T.zeros_like(margins)).sum(1) / c
    return _reduce(loss.squeeze(0) if unbatched else loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x, t, unbatched = _class_scores(input, target, "multilabel_margin_loss")
    t = t.unsqueeze(0) if unbatched else t
    if tuple(t.shape) != tuple(x.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    c = x.shape[1]
    if t.numel() and ((t < -1) | (t >= c)).any().item():
        raise IndexError(f"multilabel_margin_loss: target out of range for {c} classes")
    # A sample's labels are its targets up to the first -1.
    listed = T.cumprod((t >= 0).to(int64), 1) > 0
    safe = T.where(listed, t, T.zeros_like(t))
    is_label = T.scatter_add(T.zeros(x.shape, dtype=x.dtype, device=x.device), 1, safe,
                             listed.to(x.dtype)) > 0
    label_scores = T.gather(x, 1, safe)
    hinge = T.clamp(1 - (label_scores.unsqueeze(2) - x.unsqueeze(1)), min=0.0)
    pairs = listed.unsqueeze(2) & ~is_label.unsqueeze(1)
    loss = T.where(pairs, hinge, T.zeros_like(hinge)).sum((1, 2)) / c
    return _reduce(loss.squeeze(0) if unbatched else loss, reduction)


_CTC_NEG = -1e30  # stands for log(0): finite, so that log-sum-exp over impossible paths has finite gradients


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), got {list(log_probs.shape)}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.unsqueeze(0) if targets.ndim == 1 else targets
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise RuntimeError(f"blank must be in label range: blank={blank}, classes={classes}")
    if targets.dtype is not int64:
        raise RuntimeError(f"ctc_loss: expected targets of dtype int64, got {targets.dtype}")

    def lengths(v, name):
        out = [int(x) for x in (v.cpu().reshape(-1).tolist() if isinstance(v, Tensor) else
                                ([v] if isinstance(v, numbers.Integral) else v))]
        if len(out) != batch:
            raise RuntimeError(f"ctc_loss: expected {name} to have {batch} entries, got {len(out)}")
        return out
    in_len, tgt_len = lengths(input_lengths, "input_lengths"), lengths(target_lengths, "target_lengths")
    if any(v > steps or v < 0 for v in in_len):
        raise RuntimeError(f"ctc_loss: input_lengths {in_len} must be between 0 and the input length {steps}")
    longest = max(tgt_len + [0])
    if targets.ndim == 1:
        # Concatenated targets: split them into a padded [N, S] table.
        if sum(tgt_len) > targets.shape[0]:
            raise RuntimeError(f"ctc_loss: target_lengths sum to {sum(tgt_len)}, more than the "
                               f"{targets.shape[0]} targets given")
        starts = np.concatenate([[0], np.cumsum(tgt_len)[:-1]]).astype(np.int64)
        table = np.array([[starts[b] + min(s, max(tgt_len[b] - 1, 0)) for s in range(longest)]
                          for b in range(batch)], dtype=np.int64).reshape(batch, longest)
        padded = T.index_select(targets, 0, T.tensor(table.reshape(-1), device=targets.device)).reshape(
            batch, longest) if longest and targets.numel() else T.zeros((batch, longest), dtype=int64,
                                                                        device=log_probs.device)
    else:
        if any(v > targets.shape[1] for v in tgt_len):
            raise RuntimeError(f"ctc_loss: target_lengths {tgt_len} exceed the padded target length "
                               f"{targets.shape[1]}")
        padded = targets[:, :longest]
    padded = padded.to(log_probs.device)
    # Extended labels: blank, l1, blank, l2, ..., blank.
    width = 2 * longest + 1
    ext = T.full((batch, width), blank, dtype=int64, device=log_probs.device)
    if longest:
        ext = T.cat([T.stack([ext[:, :-1:2], padded], 2).reshape(batch, 2 * longest), ext[:, -1:]], 1)
    emit = T.gather(log_probs, 2, ext.unsqueeze(0).expand(steps, batch, width))  # [T, N, 2S+1]
    neg = T.full((batch, 1), _CTC_NEG, dtype=log_probs.dtype, device=log_probs.device)
    skip_ok = T.cat([T.zeros((batch, 2), dtype=T.bool_, device=log_probs.device),
                     (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])], 1)
    start = T.full((batch, width), _CTC_NEG, dtype=log_probs.dtype, device=log_probs.device)
    first = T.tensor(np.arange(width)[None, :] < np.minimum(2, np.array(tgt_len)[:, None] * 2 + 1),
                     device=log_probs.device)
    alpha = T.where(first, emit[0], start) if steps else start
    step_on = T.tensor(np.arange(steps)[:, None] < np.array(in_len)[None, :], device=log_probs.device)
    for t in range(1, steps):
        stay = alpha
        move = T.cat([neg, alpha[:, :-1]], 1)
        jump = T.where(skip_ok, T.cat([neg, neg, alpha[:, :-2]], 1), T.full_like(alpha, _CTC_NEG))
        nxt = T.logsumexp(T.stack([stay, move, jump], 0), 0) + emit[t]
        alpha = T.where(step_on[t].unsqueeze(1), nxt, alpha)
    ends = T.tensor([[2 * L, max(2 * L - 1, 0)] for L in tgt_len], device=log_probs.device)
    final = T.gather(alpha, 1, ends)
    no_second = T.tensor([[False, L == 0] for L in tgt_len], device=log_probs.device)
    final = T.where(no_second, T.full_like(final, _CTC_NEG), final)
    nll = -T.logsumexp(final, 1)
    empty_input = T.tensor([v == 0 for v in in_len], device=log_probs.device)
    impossible = (nll > -_CTC_NEG / 2) | (empty_input & T.tensor([v > 0 for v in tgt_len], device=log_probs.device))
    if zero_infinity:
        nll = T.where(impossible, T.zeros_like(nll), nll)
    else:
        nll = T.where(impossible, T.full_like(nll, float("inf")), nll)
    if reduction == "mean":
        divisor = T.tensor([float(max(v, 1)) for v in tgt_len], dtype=nll.dtype, device=nll.device)
        return (nll / divisor).mean()
    if reduction == "sum":
        return nll.sum()
    if reduction == "none":
        return nll.squeeze(0) if unbatched else nll
    raise ValueError(f"{reduction} is not a valid value for reduction")


# ---------------------------------------------------------------------------- attention

def _canonical_mask(mask, name, target_dtype):
    """Bool masks (True = not allowed) become additive float masks of `target_dtype`."""
    if mask is None:
        return None
    if mask.dtype is T.bool_:
        return T.zeros_like(mask, dtype=target_dtype).masked_fill(mask, float("-inf"))
    if not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask.to(target_dtype)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention over (L, N, E) query and (S, N, E) key/value, or unbatched (L, E) / (S, E)."""
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if query.dim() not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D "
                             "query tensor")
    unbatched = query.dim() == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if key.dim() != 3 or value.dim() != 3 or key.shape[1] != bsz or tuple(key.shape[:2]) != tuple(value.shape[:2]):
        raise RuntimeError(f"multi_head_attention_forward: key and value must have the query's batch size {bsz} and "
                           f"match each other in sequence length and batch, got query {list(query.shape)}, key "
                           f"{list(key.shape)}, value {list(value.shape)}")
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
    attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                                 "v_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        w_q, w_k, w_v = T.chunk(in_proj_weight, 3, 0)
    b_q, b_k, b_v = T.chunk(in_proj_bias, 3, 0) if in_proj_bias is not None else (None, None, None)
    q = linear(query, w_q, b_q)
    k = linear(key, w_k, b_k)
    v = linear(value, w_v, b_v)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key/value.")
        k = T.cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = T.cat([v, bias_v.expand(1, bsz, embed_dim)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    # Static keys/values (bsz * num_heads, S, head_dim) replace the projected ones.
    k = static_k if static_k is not None else k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    v = static_v if static_v is not None else v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    for name, t in (("static_k", static_k), ("static_v", static_v)):
        if t is not None and (t.shape[0] != bsz * num_heads or t.shape[2] != head_dim):
            raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads} and size(2) of {head_dim}, but "
                                 f"got {list(t.shape)}")
    if add_zero_attn:
        k = T.cat([k, T.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype, device=k.device)], 1)
        v = T.cat([v, T.zeros((bsz * num_heads, 1, head_dim), dtype=v.dtype, device=v.device)], 1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    scores = T.bmm(q * (1.0 / math.sqrt(head_dim)), k.transpose(-2, -1))
    if attn_mask is not None:
        scores = scores + attn_mask
    weights = T.softmax(scores, -1)
    if training and dropout_p > 0.0:
        weights = dropout(weights, p=dropout_p)
    attn_output = T.bmm(weights, v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    attn_output = linear(attn_output, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if unbatched:
        attn_output = attn_output.squeeze(1)
    if not need_weights:
        return attn_output, None
    weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
    if average_attn_weights:
        weights = weights.mean(1)
    return attn_output, (weights.squeeze(0) if unbatched else weights)


# ---------------------------------------------------------------------------- more layers of torch.nn's surface

def conv_tbc(input, weight, bias, pad=0):
    """1-D convolution over time-batch-channel input [T, N, C_in] with weight [K, C_in, C_out]."""
    if input.ndim != 3 or weight.ndim != 3 or bias.ndim != 1:
        raise RuntimeError(f"conv_tbc: expected 3-D input and weight and a 1-D bias, got {list(input.shape)}, "
                           f"{list(weight.shape)} and {list(bias.shape)}")
    if input.shape[2] != weight.shape[1]:
        raise RuntimeError(f"conv_tbc: input channels {input.shape[2]} do not match weight's {weight.shape[1]}")
    out = conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=pad)
    return out.permute(2, 0, 1)


@functools.lru_cache(maxsize=64)
def _fractional_starts(in_size, out_size, kernel, sample):
    """PyTorch's pseudo-random pooling sequence along one dim for a sample u in [0, 1)."""
    if out_size == 1:
        return np.array([in_size - kernel])
    alpha = (in_size - kernel) / (out_size - 1)
    starts = [int((i + sample) * alpha) - int(sample * alpha) for i in range(out_size - 1)]
    return np.array(starts + [in_size - kernel])


def _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, samples, n, name):
    x, unbatched = _batched_nd(input, n, name)
    k = _ntuple_arg(kernel_size, n, "kernel_size")
    spatial = tuple(x.shape[2:])
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
        ratio = (float(output_ratio),) * n if isinstance(output_ratio, numbers.Real) else \
            tuple(float(r) for r in output_ratio)
        out_size = tuple(int(spatial[i] * ratio[i]) for i in range(n))
    else:
        out_size = _ntuple_arg(output_size, n, "output_size")
    for i in range(n):
        if out_size[i] + k[i] - 1 > spatial[i]:
            raise RuntimeError(f"{name}(): pool size {k[i]} too large relative to input size {spatial[i]} for "
                               f"output size {out_size[i]} (dim {i})")
    batch, channels = x.shape[:2]
    if samples is None:
        samples = T.rand(batch, channels, n, dtype=x.dtype, device=x.device)
    # Each (sample, channel) plane has its own windows: build their flat input indices on the host.
    draws = samples.detach().cpu().double().numpy().reshape(batch * channels, n)
    strides = np.cumprod((1,) + spatial[::-1])[::-1][1:]
    width = math.prod(k)
    tables = np.zeros((batch * channels, math.prod(out_size), width), np.int64)
    for plane, u in enumerate(draws):
        # PyTorch's 2-D kernel reads the width's sample first (u[0] width, u[1] height); the 3-D one
        # reads them in dim order (time, height, width).
        per_dim = [(_fractional_starts(spatial[i], out_size[i], k[i], float(u[1 - i] if n == 2 else u[i]))[:, None] +
                    np.arange(k[i])[None, :]) * strides[i] for i in range(n)]
        table = np.zeros((1, 1), np.int64)
        for coords in per_dim:
            table = (table[:, None, :, None] + coords[None, :, None, :]).reshape(
                table.shape[0] * coords.shape[0], table.shape[1] * coords.shape[1])
        tables[plane] = table
    flat = x.reshape(batch, channels, -1)
    index = T.tensor(tables.reshape(batch, channels, -1), device=x.device)
    windows = T.gather(flat, 2, index).reshape(batch, channels, -1, width)
    values, arg = windows.max(-1)
    out_shape = [batch, channels] + list(out_size)
    values = values.reshape(out_shape)
    if not return_indices:
        return values.squeeze(0) if unbatched else values
    indices = T.gather(index.reshape(batch, channels, -1, width), 3, arg.unsqueeze(-1)).reshape(out_shape)
    return (values.squeeze(0), indices.squeeze(0)) if unbatched else (values, indices)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2,
                                "fractional_max_pool2d")


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3,
                                "fractional_max_pool3d")


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    return fractional_max_pool2d(input, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    return fractional_max_pool3d(input, kernel_size, output_size, output_ratio, True, _random_samples)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction="mean",
                         ignore_index=None, label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, W, b)) with W of shape (C, *out_features, in_features). `options`
    (LinearCrossEntropyOptions) chooses PyTorch's chunked path; ferrograd computes the reference path
    for every options value, which gives the same values and gradients."""
    c, *out_features, in_features = linear_weight.shape
    if input.shape[-1] != in_features:
        raise RuntimeError(f"linear_cross_entropy: input's last dim {input.shape[-1]} does not match "
                           f"linear_weight's in_features {in_features} (weight {list(linear_weight.shape)})")
    if out_features and input.ndim != 2:
        raise RuntimeError(f"linear_cross_entropy: multi-dimensional weights need batched input (N, in_features), "
                           f"got input of size {list(input.shape)}")
    probabilities = target.is_floating_point()
    if probabilities and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    logits = linear(input, linear_weight.reshape(-1, in_features),
                    None if linear_bias is None else linear_bias.reshape(-1))
    logits = logits.reshape(list(input.shape[:-1]) + [c] + list(out_features))
    return cross_entropy(logits, target, weight, ignore_index=-100 if ignore_index is None else ignore_index,
                         reduction=reduction, label_smoothing=label_smoothing)


def grouped_mm(mat_a, mat_b, *, offs=None, bias=None, out_dtype=None):
    """Per-group matrix products (mixture-of-experts layers). 3-D x 3-D: batched; 2-D x 3-D: the rows
    of mat_a split by the cumulative ends `offs`, group g times mat_b[g]; 3-D x 2-D: the columns of
    mat_b split by `offs`, mat_a[g] times group g; 2-D x 2-D: the shared (inner) dim split by `offs`,
    one [M, N] product per group. Rows or columns past offs[-1] are zero (PyTorch leaves them
    uninitialised)."""
    if mat_a.ndim not in (2, 3) or mat_b.ndim not in (2, 3):
        raise RuntimeError(f"grouped_mm: expected 2-D or 3-D operands, got {list(mat_a.shape)} and "
                           f"{list(mat_b.shape)}")
    if out_dtype is not None and out_dtype != mat_a.dtype:
        raise NotImplementedError(f"grouped_mm: out_dtype {out_dtype} differs from the inputs' {mat_a.dtype}")
    if mat_a.ndim == 3 and mat_b.ndim == 3:
        if offs is not None:
            raise RuntimeError("grouped_mm: offs must be None when both operands are 3-D")
        out = T.bmm(mat_a, mat_b)
    else:
        if offs is None:
            raise RuntimeError(f"grouped_mm: offs is required for operands of {mat_a.ndim}-D and {mat_b.ndim}-D")
        ends = [int(e) for e in offs.cpu().tolist()]
        starts = [0] + ends[:-1]
        if mat_a.ndim == 2 and mat_b.ndim == 3:
            out = T.cat([T.matmul(mat_a[s:e], mat_b[g]) for g, (s, e) in enumerate(zip(starts, ends))], 0)
            if ends[-1] < mat_a.shape[0]:
                out = T.cat([out, T.zeros((mat_a.shape[0] - ends[-1], out.shape[1]), dtype=out.dtype,
                                          device=out.device)], 0)
        elif mat_a.ndim == 3:
            out = T.cat([T.matmul(mat_a[g], mat_b[:, s:e]) for g, (s, e) in enumerate(zip(starts, ends))], 1)
            if ends[-1] < mat_b.shape[1]:
                out = T.cat([out, T.zeros((out.shape[0], mat_b.shape[1] - ends[-1]), dtype=out.dtype,
                                          device=out.device)], 1)
        else:
            out = T.stack([T.matmul(mat_a[:, s:e], mat_b[s:e]) for s, e in zip(starts, ends)], 0)
    return out if bias is None else out + (bias.unsqueeze(1) if out.ndim == 3 and bias.ndim == 2 else bias)


# Composite functions (several kernels here) that PyTorch computes in one float32 pass for float16
# and bfloat16 (cross_entropy, composite in PyTorch too, rounds its log-probabilities first, above);
# batch_norm and instance_norm are left out: they update running statistics in place.
for _name in [n for n in dir() if n.endswith("_loss")] + [
        "nll_loss", "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits", "gelu", "layer_norm",
        "group_norm", "rms_norm", "normalize", "local_response_norm", "cosine_similarity", "pairwise_distance",
        "softplus", "logsigmoid", "glu"]:
    if _name in globals():
        globals()[_name] = _in_float32(globals()[_name])
del _name
