"""Padding layers: Zero, Constant, Reflection, Replication and Circular, 1d/2d/3d (over F.pad)."""
from .. import functional as F
from ._utils import _ntuple, _pair
from .module import Module

__all__ = ["CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]

_quadruple, _sextuple = _ntuple(4, "_quadruple"), _ntuple(6, "_sextuple")
_PAD_TUPLE = {1: _pair, 2: _quadruple, 3: _sextuple}


class _PadNd(Module):
    """Pads the last `_spatial` dims by `padding` (left, right, top, bottom, front, back)."""

    __constants__ = ["padding"]
    _mode = "constant"
    _spatial = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _PAD_TUPLE[self._spatial](padding)

    def forward(self, input):
        n = self._spatial
        if self._mode != "constant" and input.dim() not in (n + 1, n + 2):
            raise RuntimeError(f"{type(self).__name__}: expected {n + 1}D or {n + 2}D input, but got input of size "
                               f"{list(input.shape)}")
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    __constants__ = ["padding", "value"]

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    _spatial = 1


class ConstantPad2d(_ConstantPadNd):
    _spatial = 2


class ConstantPad3d(_ConstantPadNd):
    _spatial = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    _spatial = 1


class ZeroPad2d(_ZeroPadNd):
    _spatial = 2


class ZeroPad3d(_ZeroPadNd):
    _spatial = 3


class ReflectionPad1d(_PadNd):
    _mode, _spatial = "reflect", 1


class ReflectionPad2d(_PadNd):
    _mode, _spatial = "reflect", 2


class ReflectionPad3d(_PadNd):
    _mode, _spatial = "reflect", 3


class ReplicationPad1d(_PadNd):
    _mode, _spatial = "replicate", 1


class ReplicationPad2d(_PadNd):
    _mode, _spatial = "replicate", 2


class ReplicationPad3d(_PadNd):
    _mode, _spatial = "replicate", 3


class CircularPad1d(_PadNd):
    _mode, _spatial = "circular", 1


class CircularPad2d(_PadNd):
    _mode, _spatial = "circular", 2


class CircularPad3d(_PadNd):
    _mode, _spatial = "circular", 3
