"""`nn.Parameter`: a leaf tensor that modules register as a trainable weight."""
from .. import _core
from .._core import Tensor


class Parameter(Tensor):
    """A tensor that shares `data`'s memory and requires grad (unless told otherwise)."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _core.full([0], 0.0, "float32")
        t = Tensor.__new__(cls, data)
        t.requires_grad = requires_grad
        return t

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = type(self)(self.detach().clone(), self.requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol):
        from .._tensor import _rebuild
        return (_rebuild, (type(self), self.detach().cpu().numpy().copy(), self.requires_grad, str(self.device)))


class Buffer(Tensor):
    """Marker type for `register_buffer`-style attributes (PyTorch 2.x `nn.Buffer`)."""

    def __new__(cls, data=None, persistent=True):
        t = Tensor.__new__(cls, data if data is not None else _core.full([0], 0.0, "float32"))
        t.persistent = persistent
        return t
