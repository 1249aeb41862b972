"""`ferrograd.autocast`: mixed precision with PyTorch's op lists.

Inside an autocast region, the ops of `LOWER_PRECISION` (matmul, linear, conv, ...) cast their
floating-point tensor arguments to the region's dtype (bfloat16 on the CPU by default, float16
on the GPU), and the ops of `FLOAT32` (softmax, norms, losses, reductions, exp/log/pow) cast
16-bit float arguments to float32; the casts are recorded by autograd, so gradients flow back
in each leaf's own dtype. Other ops run in the dtypes they are given (binary ops promote).

The casting wrappers are installed while at least one autocast region is open (in any thread)
and removed when the last one closes, so code outside autocast pays nothing for them; the
wrappers themselves read this thread's state, so a region in one thread never changes another
thread's ops. Unlike PyTorch, the low-precision copies of parameters are not cached across ops
of one region (`cache_enabled` is accepted and has no effect).
"""
import functools
import importlib
import threading

from .._dtype import bfloat16, float16, float32, float64
from .._core import Tensor

# module (or "Tensor") -> attribute names, for each list. PyTorch's CPU/CUDA autocast lists,
# restricted to the ops ferrograd has.
LOWER_PRECISION = {
    "ferrograd": ("matmul", "mm", "bmm", "addmm", "baddbmm", "addbmm", "addmv", "mv", "chain_matmul"),
    "ferrograd.nn.functional": ("linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                "conv_transpose2d", "conv_transpose3d", "prelu", "scaled_dot_product_attention"),
    "Tensor": ("__matmul__", "__rmatmul__", "matmul", "mm", "bmm", "addmm", "baddbmm", "mv"),
}
FLOAT32 = {
    "ferrograd": ("softmax", "log_softmax", "layer_norm", "group_norm", "norm", "sum", "prod", "cumsum", "cumprod",
                  "exp", "log", "log2", "log10", "log1p", "pow", "rsqrt", "reciprocal", "acos", "asin", "cosh",
                  "sinh", "tan", "erfinv", "expm1", "dist", "cdist", "logsumexp", "var", "std", "trace"),
    "ferrograd.nn.functional": (
        "softmax", "log_softmax", "softmin", "layer_norm", "group_norm", "rms_norm", "instance_norm", "normalize",
        "local_response_norm", "softplus", "cosine_similarity", "pdist", "mse_loss", "l1_loss", "smooth_l1_loss",
        "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
        "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss", "hinge_embedding_loss",
        "margin_ranking_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
        "soft_margin_loss", "triplet_margin_loss", "ctc_loss"),
    "Tensor": ("softmax", "log_softmax", "sum", "prod", "cumsum", "cumprod", "exp", "log", "log2", "log10", "log1p",
               "pow", "__pow__", "rsqrt", "reciprocal", "norm", "logsumexp", "var", "std"),
}

_DEFAULT_DTYPE = {"cpu": bfloat16, "gpu": float16}
_SUPPORTED = {"cpu": (bfloat16, float16), "gpu": (float16, bfloat16)}


class _ThreadState(threading.local):
    def __init__(self):
        self.dtype = {"cpu": None, "gpu": None}  # device type -> active dtype (None: off)


_state = _ThreadState()
_install_lock = threading.Lock()
_open_regions = 0


def _device_type(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    kind = device_type.split(":")[0]
    kind = "gpu" if kind == "cuda" else kind
    if kind not in _SUPPORTED:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
    return kind


def is_autocast_enabled(device_type="cpu"):
    return _state.dtype[_device_type(device_type)] is not None


def get_autocast_dtype(device_type):
    kind = _device_type(device_type)
    return _state.dtype[kind] or _DEFAULT_DTYPE[kind]


def _cast_args(args, kwargs, want):
    """(args, kwargs) with their floating tensors (also inside lists and tuples) cast by `want`."""
    def cast(v):
        if isinstance(v, Tensor):
            kind = "cpu" if v._device == "cpu" else "gpu"
            # float64 is never autocast (PyTorch's eligibility rule).
            if not v.dtype.is_floating_point or v.dtype is float64:
                return v
            target = want(_state.dtype[kind], v.dtype)
            return v if target is None or v.dtype is target else v.to(target)
        if isinstance(v, (list, tuple)) and any(isinstance(x, Tensor) for x in v):
            return type(v)(cast(x) for x in v)
        return v
    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def _to_low(active, dtype):
    return active


def _to_float32(active, dtype):
    return float32 if active is not None and dtype in (float16, bfloat16) else None


def _wrap(fn, want):
    @functools.wraps(fn)
    def autocast_op(*args, **kwargs):
        args, kwargs = _cast_args(args, kwargs, want)
        return fn(*args, **kwargs)
    return autocast_op


_plan = []  # (owner, name, original, wrapper), made once: installing is then a loop of setattr


def _casting_plan():
    if not _plan:
        import ferrograd
        owners = {"ferrograd": ferrograd, "ferrograd.nn.functional": importlib.import_module("ferrograd.nn.functional"),
                  "Tensor": Tensor}
        for table, want in ((LOWER_PRECISION, _to_low), (FLOAT32, _to_float32)):
            for owner_name, names in table.items():
                owner = owners[owner_name]
                for name in names:
                    original = getattr(owner, name, None)
                    if original is not None:
                        _plan.append((owner, name, original, _wrap(original, want)))
    return _plan


def _install():
    for owner, name, _, wrapper in _casting_plan():
        setattr(owner, name, wrapper)


def _uninstall():
    for owner, name, original, _ in _casting_plan():
        setattr(owner, name, original)


class autocast:
    """`torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)`: a context
    manager (and decorator) running its region's ops in mixed precision."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = _device_type(device_type)
        self.fast_dtype = _DEFAULT_DTYPE[self.device] if dtype is None else dtype
        self._enabled = bool(enabled)
        if self._enabled and self.fast_dtype not in _SUPPORTED[self.device]:
            supported = ", ".join(str(d) for d in _SUPPORTED[self.device])
            raise RuntimeError(f"In {self.device} autocast, the supported dtypes are: {supported}; got {self.fast_dtype}")
        self._saved = []

    def __enter__(self):
        global _open_regions
        self._saved.append(_state.dtype[self.device])
        _state.dtype[self.device] = self.fast_dtype if self._enabled else None
        with _install_lock:
            _open_regions += 1
            if _open_regions == 1:
                _install()
        return self

    def __exit__(self, exc_type, exc, tb):
        global _open_regions
        _state.dtype[self.device] = self._saved.pop()
        with _install_lock:
            _open_regions -= 1
            if _open_regions == 0:
                _uninstall()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def decorated(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return fn(*args, **kwargs)
        return decorated
