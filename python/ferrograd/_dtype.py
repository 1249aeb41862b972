"""Dtype objects (`ferrograd.float32`, ...) and the default dtype."""
import builtins

import numpy as np


class dtype:
    """An element type, named as in PyTorch."""

    __slots__ = ("name", "is_floating_point", "itemsize", "_np")

    def __init__(self, name, is_floating_point, itemsize, np_type):
        self.name = name
        self.is_floating_point = is_floating_point
        self.itemsize = itemsize
        self._np = np.dtype(np_type)

    @property
    def is_signed(self):
        return self.name != "bool"

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        # Printed as PyTorch prints it, so output of ported scripts reads the same.
        return f"torch.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


float32 = dtype("float32", True, 4, np.float32)
float64 = dtype("float64", True, 8, np.float64)
int64 = dtype("int64", False, 8, np.int64)
bool_ = dtype("bool", False, 1, np.bool_)

_BY_NAME = {d.name: d for d in (float32, float64, int64, bool_)}
_default = float32


def from_name(name):
    return _BY_NAME[name]


def to_dtype(d):
    """Accepts a ferrograd dtype, a numpy dtype or Python type; returns a ferrograd dtype."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return _default
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    try:
        name = np.dtype(d).name
    except TypeError:
        raise TypeError(f"unsupported dtype {d!r}") from None
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith(("int", "uint")):
        return int64
    raise TypeError(f"ferrograd has no dtype {d!r}; supported: float32, float64, int64, bool")


def get_default_dtype():
    return _default


def set_default_dtype(d):
    global _default
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default = d


def from_numpy_dtype(npd):
    """The ferrograd dtype numpy data converts to (smaller ints widen to int64, float16 to float32)."""
    npd = np.dtype(npd)
    if npd.kind == "f":
        return float64 if npd.itemsize == 8 else float32
    if npd.kind == "i" or (npd.kind == "u" and npd.itemsize < 8):
        return int64
    if npd.kind == "b":
        return bool_
    raise TypeError(
        f"can't convert np.ndarray of type numpy.{npd.name}. The only supported types are: "
        "float64, float32, int64 (and narrower ints, uint32 and below), and bool."
    )
