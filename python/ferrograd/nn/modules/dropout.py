"""Dropout layers."""
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "AlphaDropout"]


class _DropoutNd(Module):
    __constants__ = ["p", "inplace"]

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


def _channel_dropout(input, p, training, inplace):
    """F.dropout2d, except that p == 1 zeroes everything (the functional divides by 1 - p)."""
    if training and p == 1:
        return input.mul_(0.0) if inplace else input * 0.0
    return F.dropout2d(input, p, training, inplace)


class Dropout1d(_DropoutNd):
    def forward(self, input):
        if input.dim() not in (2, 3):
            raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. "
                               "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
                               "spatial dimension, a channel dimension, and an optional batch dimension "
                               "(i.e. 2D or 3D inputs).")
        if input.dim() == 2:
            return _channel_dropout(input.unsqueeze(0), self.p, self.training, False).squeeze(0) if not self.inplace \
                else input.copy_(_channel_dropout(input.unsqueeze(0), self.p, self.training, False).squeeze(0))
        return _channel_dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    def forward(self, input):
        if input.dim() == 3:
            # As PyTorch does today: 3-D input is unsqueezed at dim 0, so whole dim-0 slices are dropped.
            out = _channel_dropout(input.unsqueeze(0), self.p, self.training, False).squeeze(0)
            return input.copy_(out) if self.inplace else out
        return _channel_dropout(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    def forward(self, input):
        if not self.training or self.p == 0:
            return input
        from ... import _core
        alpha_p = -1.7580993408473766
        keep = _core.bernoulli_mask(list(input.shape), 1.0 - self.p, input._dtype)
        a = ((1 - self.p) * (1 + self.p * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.p
        return (input * keep + alpha_p * (1 - keep)) * a + b
