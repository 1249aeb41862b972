"""Dtype objects (`ferrograd.float32`, ...), `iinfo`/`finfo` and the default dtype.

The dtypes come from the core's table (`_core.dtype_table()`), so a dtype is described once.
"""
import builtins

import numpy as np

from . import _core


def _bfloat16_numpy():
    """numpy's bfloat16 from the `ml_dtypes` package, or None (numpy has none of its own)."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


class dtype:
    """An element type, named as in PyTorch."""

    __slots__ = ("name", "is_floating_point", "itemsize", "_alias", "_legacy", "_titled")

    def __init__(self, name, alias, legacy, titled, is_floating_point, itemsize):
        self.name = name
        self._alias = alias
        self._legacy = legacy
        self._titled = titled
        self.is_floating_point = is_floating_point
        self.itemsize = itemsize

    @property
    def is_signed(self):
        return self.name not in ("bool", "uint8")

    @property
    def is_complex(self):
        return False

    @property
    def _np(self):
        """The numpy dtype holding this dtype's values exactly (bfloat16: float32 when numpy
        lacks ml_dtypes' bfloat16; see `_np_exact`)."""
        if self.name == "bfloat16":
            return _bfloat16_numpy() or np.dtype(np.float32)
        return np.dtype(self.name)

    @property
    def _np_exact(self):
        """Whether `_np` is this dtype itself (numpy arrays of it share memory with tensors)."""
        return self.name != "bfloat16" or _bfloat16_numpy() is not None

    def to_real(self):
        return self

    def to_complex(self):
        raise RuntimeError(f"to_complex is not supported for {self}: ferrograd has no complex dtypes")

    def __repr__(self):
        # Printed as PyTorch prints it, so output of ported scripts reads the same.
        return f"torch.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


_ALL = [dtype(*row) for row in _core.dtype_table()]
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({d._alias: d for d in _ALL})

bool_ = _BY_NAME["bool"]
uint8 = _BY_NAME["uint8"]
int8 = _BY_NAME["int8"]
int16 = _BY_NAME["int16"]
int32 = _BY_NAME["int32"]
int64 = _BY_NAME["int64"]
float16 = _BY_NAME["float16"]
bfloat16 = _BY_NAME["bfloat16"]
float32 = _BY_NAME["float32"]
float64 = _BY_NAME["float64"]

#: PyTorch's aliases (`torch.half`, `torch.int`, ...), as module attributes.
ALIASES = {d._alias: d for d in _ALL if d._alias != d.name and d._alias != "bool"}

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
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        name = np.dtype(d).name
    except TypeError:
        raise TypeError(f"unsupported dtype {d!r}") from None
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in ("uint16", "uint32"):
        return int64
    raise TypeError(f"ferrograd has no dtype {d!r}; supported: {', '.join(x.name for x in _ALL)}")


def get_default_dtype():
    return _default


def set_default_dtype(d):
    global _default
    d = to_dtype(d)
    if d not in (float32, float64, float16, bfloat16):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default = d


def from_numpy_dtype(npd):
    """The ferrograd dtype numpy data converts to: the same dtype where ferrograd has it;
    uint16 and uint32 widen to int64, as PyTorch's older releases did."""
    npd = np.dtype(npd)
    if npd.name in _BY_NAME:
        return _BY_NAME[npd.name]
    if npd.kind == "u" and npd.itemsize < 8:
        return int64
    raise TypeError(
        f"can't convert np.ndarray of type numpy.{npd.name}. The only supported types are: "
        "float64, float32, float16, bfloat16 (ml_dtypes), int64, int32, int16, int8, uint8, and bool."
    )


class iinfo:
    """Machine limits of an integer dtype (`torch.iinfo`)."""

    def __init__(self, type):
        type = to_dtype(type)
        if type.is_floating_point or type is bool_:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo to handle '{type}'")
        info = np.iinfo(type._np)
        self.dtype = type.name
        self.bits = info.bits
        self.min = builtins.int(info.min)
        self.max = builtins.int(info.max)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, bits={self.bits}, dtype={self.dtype})"


# bfloat16 keeps float32's exponent and 8 significand bits.
_BF16_FINFO = dict(bits=16, eps=2.0 ** -7, max=3.3895313892515355e38, tiny=2.0 ** -126,
                   smallest_normal=2.0 ** -126, resolution=0.01)


class finfo:
    """Machine limits of a floating-point dtype (`torch.finfo`); the default dtype's without one."""

    def __init__(self, type=None):
        type = _default if type is None else to_dtype(type)
        if not type.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use torch.iinfo to handle '{type}'")
        self.dtype = type.name
        if type is bfloat16:
            fields = _BF16_FINFO
        else:
            info = np.finfo(type._np)
            fields = dict(bits=info.bits, eps=builtins.float(info.eps), max=builtins.float(info.max),
                          tiny=builtins.float(info.tiny), smallest_normal=builtins.float(info.smallest_normal),
                          resolution=10.0 ** -builtins.int(info.precision))
        self.bits = fields["bits"]
        self.eps = fields["eps"]
        self.max = fields["max"]
        self.min = -fields["max"]
        self.tiny = fields["tiny"]
        self.smallest_normal = fields["smallest_normal"]
        self.resolution = fields["resolution"]

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:e}, max={self.max:e}, eps={self.eps:e}, "
                f"smallest_normal={self.smallest_normal:e}, tiny={self.tiny:e}, dtype={self.dtype})")
