"""`nn.Parameter`: a leaf tensor that modules register as a trainable weight."""
import weakref

from .. import _core
from .._core import Tensor

# Every live Parameter (and so Variable), by id(): GradientTape.watched_variables maps the core
# tensors its ops read back to these objects.
live_parameters = weakref.WeakValueDictionary()


class Parameter(Tensor):
    """A tensor that shares `data`'s memory and requires grad (unless told otherwise)."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _core.full([0], 0.0, "float32")
        t = Tensor.__new__(cls, data)
        t.requires_grad = requires_grad
        live_parameters[id(t)] = t
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


class UninitializedParameter(Parameter):
    """A parameter of a lazy module whose shape is not known until the first forward;
    `materialize` gives it data in place (so optimizers and hooks holding it see the result)."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        from .._tensor import empty
        return Parameter.__new__(cls, empty(0, dtype=dtype, device=device), requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        from .._tensor import empty
        self.data = empty(tuple(shape), dtype=dtype or self.dtype, device=device or self.device)
        self.__class__ = self.cls_to_become

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(self.requires_grad, self.device, self.dtype)
        return memo[id(self)]

    def __reduce_ex__(self, protocol):
        return (type(self), (self.requires_grad, str(self.device), self.dtype))

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__


class UninitializedBuffer(Buffer):
    """A buffer of a lazy module whose shape is not known until the first forward."""

    def __new__(cls, requires_grad=False, device=None, dtype=None, persistent=True):
        from .._tensor import empty
        return Buffer.__new__(cls, empty(0, dtype=dtype, device=device), persistent)

    def materialize(self, shape, device=None, dtype=None):
        """A new tensor of `shape` (buffers are replaced in their module, not changed in place)."""
        from .._tensor import empty
        return empty(tuple(shape), dtype=dtype or self.dtype, device=device or self.device)

    def __reduce_ex__(self, protocol):
        return (type(self), (False, str(self.device), self.dtype, self.persistent))

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(False, self.device, self.dtype, self.persistent)
        return memo[id(self)]

    def __repr__(self):
        return "<UninitializedBuffer>"
