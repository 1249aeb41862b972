"""Runs one differential case and turns its result into plain JSON data, for either framework.

A case is a small Python program, usually ending in an expression; it runs with `torch`
bound to PyTorch (when recording) or ferrograd (when testing). Its outcome is one of
  ["err", name]                    the exception, as the nearest built-in exception type
  ["t", dtype, shape, values]      a tensor (values flat; NaN and infinities as strings)
  ["seq", [outcomes]]              a tuple, list or torch.Size
  ["py", type, value]              a Python bool, int, float or str
  ["dtype", name] / ["none"]
"""
import ast
import math
import os
import tempfile

import numpy as np

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def run(source, torch, device="cpu"):
    """The outcome of `source` with `torch` bound to the given framework; factories default to
    `device`. A tensor result must live on `device`, else the outcome says where it went."""
    tree = ast.parse(source)
    # A program that ends in a statement has the outcome None (or its exception).
    last = tree.body.pop() if isinstance(tree.body[-1], ast.Expr) else ast.Expr(ast.Constant(None))
    with tempfile.TemporaryDirectory() as tmp:
        scope = {"torch": torch, "F": torch.nn.functional, "nn": torch.nn, "np": np, "math": math,
                 "inf": math.inf, "nan": math.nan, "path": os.path.join(tmp, "ckpt.pt"), "tmp": tmp}
        torch.manual_seed(0)
        torch.set_default_device(device)
        try:
            exec(compile(tree, "<case>", "exec"), scope)
            value = eval(compile(ast.Expression(last.value), "<case>", "eval"), scope)
            return _encode(value, torch, device)
        except BaseException as e:  # a PanicException is a BaseException: record it as itself
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            return ["err", _builtin_name(type(e))]
        finally:
            torch.set_default_device(None if device == "cpu" else "cpu")


def _builtin_name(cls):
    """The first built-in exception class in cls's MRO (torch.OutOfMemoryError -> RuntimeError)."""
    for c in cls.__mro__:
        if c.__module__ == "builtins":
            return c.__name__
    return cls.__name__


def _encode(value, torch, device):
    if isinstance(value, torch.Tensor):
        if value.device.type != torch.device(device).type:
            return ["err", f"result on {value.device.type}, expected {device}"]
        dtype = str(value.dtype).replace("torch.", "")
        # numpy has no bfloat16: its values are exact in float32.
        arr = (value.detach().cpu().float() if dtype == "bfloat16" else value.detach().cpu()).numpy()
        return ["t", dtype, list(arr.shape), [_scalar(v) for v in arr.reshape(-1).tolist()]]
    if isinstance(value, torch.dtype):
        return ["dtype", str(value).replace("torch.", "")]
    if isinstance(value, (tuple, list)):
        return ["seq", [_encode(v, torch, device) for v in value]]
    if value is None:
        return ["none"]
    if isinstance(value, (bool, int, float, str, np.generic)):
        v = value.item() if isinstance(value, np.generic) else value
        return ["py", type(v).__name__, _scalar(v)]
    return ["py", "repr", type(value).__name__]


def _scalar(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _decode(v):
    return _SPECIAL.get(v, v) if isinstance(v, str) else v


def mismatch(actual, expected, rtol, atol):
    """None when `actual` matches `expected`, else a short description of the difference."""
    if actual[0] != expected[0]:
        return f"{_brief(actual)} != {_brief(expected)}"
    kind = actual[0]
    if kind == "t":
        _, dt, shape, values = actual
        _, edt, eshape, evalues = expected
        if (dt, shape) != (edt, eshape):
            return f"{dt}{shape} != {edt}{eshape}"
        a = np.array([_decode(v) for v in values], dtype=np.float64 if dt.startswith("float") else object)
        e = np.array([_decode(v) for v in evalues], dtype=np.float64 if dt.startswith("float") else object)
        if dt.startswith("float"):
            ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True).all() if a.size else True
        else:
            ok = list(a) == list(e)
        return None if ok else f"values {_clip(values)} != {_clip(evalues)}"
    if kind == "seq":
        if len(actual[1]) != len(expected[1]):
            return f"length {len(actual[1])} != {len(expected[1])}"
        for i, (a, e) in enumerate(zip(actual[1], expected[1])):
            m = mismatch(a, e, rtol, atol)
            if m:
                return f"[{i}]: {m}"
        return None
    if kind == "py":
        if actual[1] != expected[1]:
            return f"{actual[1]} != {expected[1]}"
        if actual[1] == "float":
            a, e = _decode(actual[2]), _decode(expected[2])
            same = (math.isnan(a) and math.isnan(e)) or math.isclose(a, e, rel_tol=rtol, abs_tol=atol)
            return None if same else f"{a} != {e}"
    return None if actual == expected else f"{_brief(actual)} != {_brief(expected)}"


def _brief(o):
    if o[0] == "t":
        return f"tensor {o[1]}{o[2]} {_clip(o[3])}"
    return str(o)[:120]


def _clip(values, n=8):
    return str(values[:n])[:-1] + (", ...]" if len(values) > n else "]")
