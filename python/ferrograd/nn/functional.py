"""`ferrograd.nn.functional`: activations, losses, convolution, pooling, normalisation.

Built from core ops whose backward rules are in Rust, so every function here is
differentiable (to any order) without a hand-written gradient.
"""
import math
import numbers

from .. import _core
from .. import _tensor as T
from .._core import Tensor
from .._dtype import float32, float64, int64

relu = T.relu  # noqa: F821
sigmoid = T.sigmoid  # noqa: F821
tanh = T.tanh  # noqa: F821
softmax_ = T.softmax


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


def _inplace_result(input, out, inplace):
    if inplace:
        return input.copy_(out)
    return out


def relu_(input):
    return input.copy_(T.relu(input))  # noqa: F821


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if input.dtype is T.bool_:
        raise NotImplementedError("\"hardtanh\" not implemented for 'Bool'")
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace_result(input, T.clamp(input, min_val, max_val), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    T._require_float(input, "leaky_relu")
    return _inplace_result(input, T.where(input > 0, input, input * negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    T._require_float(input, "elu")
    return _inplace_result(input, T.where(input > 0, input, T.expm1(input) * alpha), inplace)  # noqa: F821


def selu(input, inplace=False):
    T._require_float(input, "selu")
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return _inplace_result(input, scale * T.where(input > 0, input, T.expm1(input) * alpha), inplace)  # noqa: F821


def celu(input, alpha=1.0, inplace=False):
    T._require_float(input, "celu")
    return _inplace_result(input, T.where(input > 0, input, T.expm1(input / alpha) * alpha), inplace)  # noqa: F821


def gelu(input, approximate="none"):
    T._require_float(input, "gelu")
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + T.tanh(inner))  # noqa: F821
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * input * (1.0 + T.erf(input * (1.0 / math.sqrt(2.0))))  # noqa: F821


def silu(input, inplace=False):
    T._require_float(input, "silu")
    return _inplace_result(input, input * T.sigmoid(input), inplace)  # noqa: F821


def mish(input, inplace=False):
    T._require_float(input, "mish")
    return _inplace_result(input, input * T.tanh(softplus(input)), inplace)  # noqa: F821


def softplus(input, beta=1.0, threshold=20.0):
    T._require_float(input, "softplus")
    scaled = input * beta
    # log1p(exp(x)) computed stably: max(x, 0) + log1p(exp(-|x|)).
    soft = (T.relu(scaled) + T.log1p(T.exp(-T.abs(scaled)))) / beta  # noqa: F821
    return T.where(scaled > threshold, input, soft)


def softsign(input):
    return input / (1 + T.abs(input))  # noqa: F821


def logsigmoid(input):
    T._require_float(input, "logsigmoid")
    return -softplus(-input)


def hardsigmoid(input, inplace=False):
    T._require_float(input, "hardsigmoid")
    return _inplace_result(input, T.clamp(input / 6.0 + 0.5, 0.0, 1.0), inplace)


def hardswish(input, inplace=False):
    T._require_float(input, "hardswish")
    return _inplace_result(input, input * T.clamp(input / 6.0 + 0.5, 0.0, 1.0), inplace)


def threshold(input, threshold, value, inplace=False):
    # NaN stays NaN (it is not <= threshold).
    return _inplace_result(input, T.where(input <= threshold, value, input), inplace)


def tanhshrink(input):
    return input - T.tanh(input)  # noqa: F821


def softshrink(input, lambd=0.5):
    T._require_float(input, "softshrink")
    return T.where(input > lambd, input - lambd, T.where(input < -lambd, input + lambd, input * 0))


def hardshrink(input, lambd=0.5):
    T._require_float(input, "hardshrink")
    return T.where((input > lambd) | (input < -lambd), input, input * 0)


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
        return _inplace_result(input, input * 0.0, inplace)
    keep = _core.bernoulli_mask(list(input.shape), 1.0 - p, input._dtype)
    if input.device.type != "cpu":
        keep = keep.to(input.device)  # drawn by the host generator, as torch.rand(device=...) is
    return _inplace_result(input, input * keep * (1.0 / (1.0 - p)), inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return _inplace_result(input, input * 0.0, inplace)
    shape = list(input.shape[:2]) + [1] * (input.ndim - 2)
    keep = _core.bernoulli_mask(shape, 1.0 - p, input._dtype)
    if input.device.type != "cpu":
        keep = keep.to(input.device)
    return _inplace_result(input, input * keep * (1.0 / (1.0 - p)), inplace)


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
    if input.dtype is not int64:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have scalar type Long; but got {input.dtype} instead")
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
    if groups != 1:
        raise NotImplementedError("conv_transpose2d with groups > 1 is not supported")
    n, c, h, w = x.shape
    cin, o, kh, kw = weight.shape
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    op = _pair(output_padding, "output_padding")
    oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + op[0] + 1
    ow = (w - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + op[1] + 1
    cols = T.matmul(weight.reshape(cin, o * kh * kw).t(), x.reshape(n, c, h * w))
    out = _core.col2im(cols, (oh, ow), (kh, kw), dilation, padding, stride, False, n)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
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
    out = max_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), (1, dl), ceil_mode).squeeze(2)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    x, unbatched = _batched(input, 3, "avg_pool1d")
    k = kernel_size if isinstance(kernel_size, numbers.Integral) else kernel_size[0]
    s = k if stride in (None, ()) else (stride if isinstance(stride, numbers.Integral) else stride[0])
    p = padding if isinstance(padding, numbers.Integral) else padding[0]
    out = avg_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(2)
    return out.squeeze(0) if unbatched else out


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
    out = (input - mean) * T.rsqrt(var + eps)  # noqa: F821
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
    out = (input - mean.reshape(shape)) * T.rsqrt(var.reshape(shape) + eps)  # noqa: F821
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
    out = ((x - mean) * T.rsqrt(var + eps)).reshape(input.shape)  # noqa: F821
    shape = [1, c] + [1] * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


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
    return _reduce(T.abs(input - target), reduction)  # noqa: F821


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    d = T.abs(input - target)  # noqa: F821
    if beta == 0:
        return _reduce(d, reduction)
    loss = T.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}")
    d = T.abs(input - target)  # noqa: F821
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
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
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
    log_p = T.clamp(T.log(input), min=-100.0)  # noqa: F821
    log_1mp = T.clamp(T.log(1 - input), min=-100.0)  # noqa: F821
    loss = -(target * log_p + (1 - target) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Target size ({list(target.shape)}) must be the same as input size ({list(input.shape)})")
    # Stable form: (1 - t) x + lw * (log1p(exp(-|x|)) + max(-x, 0)), lw = 1 + (pw - 1) t.
    softplus_neg = T.log1p(T.exp(-T.abs(input))) + T.relu(-input)  # noqa: F821
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
        loss = T.exp(target) * (target - input)  # noqa: F821
    else:
        # xlogy(t, t) - t * input: 0 where t == 0, NaN where t < 0 (as in PyTorch).
        loss = T.where(target == 0, 0.0, target * T.log(target)) - target * input  # noqa: F821
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
