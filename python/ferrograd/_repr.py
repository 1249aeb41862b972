"""`repr(tensor)` in PyTorch's style: `tensor([[1., 2.], ...], dtype=..., requires_grad=True)`."""
import numpy as np

from ._dtype import get_default_dtype
from ._registry import op

_THRESHOLD, _EDGE, _LINE = 1000, 3, 80


def _float_formatter(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    absmax, absmin = np.abs(finite).max(), np.abs(finite).min()
    ints = np.all(finite == np.round(finite))
    if ints and absmax < 1e8:
        width = max(len(f"{v:.0f}.") for v in finite)
        return lambda v: (_special(v) or f"{v:.0f}.").rjust(width)
    sci = absmax >= 1e8 or (absmin < 1e-4 and absmin != 0) or (absmin != 0 and absmax / absmin > 1000)
    fmt = (lambda v: f"{v:.4e}") if sci else (lambda v: f"{v:.4f}")
    width = max(len(fmt(v)) for v in finite)
    return lambda v: (_special(v) or fmt(v)).rjust(width)


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _format(arr, fmt, indent, summarize):
    if arr.ndim == 0:
        return fmt(arr.item())
    n = arr.shape[0]
    if arr.ndim == 1:
        idx = list(range(n)) if not summarize or n <= 2 * _EDGE else list(range(_EDGE)) + [None] + list(range(n - _EDGE, n))
        parts = ["..." if i is None else fmt(arr[i]) for i in idx]
        lines, line = [], ""
        for p in parts:
            piece = p + ", "
            if line and len(line) + len(piece) + indent > _LINE:
                lines.append(line.rstrip())
                line = ""
            line += piece
        lines.append(line.rstrip(", "))
        return "[" + ("\n" + " " * (indent + 1)).join(lines) + "]"
    idx = list(range(n)) if not summarize or n <= 2 * _EDGE else list(range(_EDGE)) + [None] + list(range(n - _EDGE, n))
    rows = ["..." if i is None else _format(arr[i], fmt, indent + 1, summarize) for i in idx]
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def tensor_repr(t, prefix="tensor("):
    host = t.detach().cpu()
    # Printed through float32 where numpy has no bfloat16 (its values are exact in float32).
    arr = (host if host.dtype._np_exact else host.float()).numpy()
    suffix = []
    dt = t.dtype.name
    default = get_default_dtype().name
    if t.numel() == 0:
        body = "[]"
        if t.ndim != 1:
            suffix.append(f"size={tuple(t.shape)}")
    else:
        summarize = arr.size > _THRESHOLD
        if t.dtype.is_floating_point:
            sample = arr if not summarize else np.concatenate([arr.reshape(-1)[:_EDGE * 10], arr.reshape(-1)[-_EDGE * 10:]])
            fmt = _float_formatter(np.asarray(sample, dtype=np.float64).reshape(-1))
        elif dt == "bool":
            fmt = lambda v: str(bool(v))  # noqa: E731
        else:
            width = max(len(str(v)) for v in (arr.min(), arr.max()))
            fmt = lambda v: str(int(v)).rjust(width)  # noqa: E731
        body = _format(arr, fmt, len(prefix), summarize)
    # PyTorch's rule: the default float type, int64 and bool are implied by the values, unless
    # there are none.
    if dt not in (default, "int64", "bool") or (t.numel() == 0 and dt != default):
        suffix.append(f"dtype=torch.{dt}")
    if t._device != "cpu":
        suffix.append(f"device='{t._device}'")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffix) + ")"


@op("__repr__", "__str__", function=False)
def _repr(self):
    return tensor_repr(self)


@op("__format__", function=False)
def _format_spec(self, spec):
    return format(self.item(), spec) if self.ndim == 0 and spec else repr(self)
