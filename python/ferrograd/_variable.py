"""`ferrograd.Variable`: TensorFlow's and Keras's mutable, trainable tensor.

A Variable is an `nn.Parameter`, so Modules, the `ferrograd.optim` optimizers and
`state_dict` treat it as a weight. Its `assign*` methods update it in place outside any
recording (the storage's version counter moves, as with `copy_`), and `trainable` maps onto
`requires_grad`: a trainable floating-point Variable is what a GradientTape watches.
"""
import numpy as np

from . import _core
from ._core import Tensor
from ._dtype import to_dtype
from .nn.parameter import Parameter


def _value_tensor(value, dtype):
    """A tensor holding `value` (a tensor, numpy array, nested list or number) in `dtype`."""
    from ._tensor import as_tensor
    if isinstance(value, Tensor):
        value = value.detach()
        return value if dtype is None or value.dtype is dtype else value.to(dtype)
    if dtype is None and not isinstance(value, np.ndarray):
        arr = np.asarray(value)
        # Python floats become the default float type, as in Keras (float32).
        if arr.dtype.kind == "f":
            from ._dtype import get_default_dtype
            dtype = get_default_dtype()
    return as_tensor(value, dtype=dtype)


class Variable(Parameter):
    """`Variable(initial_value, trainable=True, name=None, dtype=None)`.

    `constraint` (None, or a callable set by a Keras layer's `add_weight`) projects the value
    after each Keras optimizer step.

    `initial_value` is a tensor, numpy array, nested list or number, or a callable returning
    one (TensorFlow's deferred initializer); the Variable owns a copy of it.
    """

    constraint = None

    def __new__(cls, initial_value=None, trainable=True, name=None, dtype=None):
        if initial_value is None:
            raise ValueError("Variable: initial_value must be given (a tensor, array, number or a callable)")
        if callable(initial_value) and not isinstance(initial_value, (Tensor, np.ndarray)):
            initial_value = initial_value()
        dtype = to_dtype(dtype) if dtype is not None else None
        data = _value_tensor(initial_value, dtype).clone()
        var = Parameter.__new__(cls, data, requires_grad=False)
        var._init(trainable, name)
        return var

    def _init(self, trainable, name):
        self._trainable = bool(trainable)
        self.requires_grad = self._trainable and self.is_floating_point()
        self._name = "variable" if name is None else str(name)
        self._path = self._name

    # ------------------------------------------------------------------ properties
    @property
    def name(self):
        return self._name

    @property
    def path(self):
        """Keras's `path`: the name prefixed by the owner's path (set by layers), e.g. `dense/kernel`."""
        return self._path

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        self.requires_grad = self._trainable and self.is_floating_point()

    @property
    def value(self):
        """The Variable itself as a tensor: reads of it inside a GradientTape are recorded."""
        return self

    def numpy(self, force=False):
        """A copy of the current value as a numpy array (TensorFlow's semantics)."""
        return self.detach().cpu()._numpy().copy()

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    # ------------------------------------------------------------------ in-place updates
    def _checked_value(self, value, what):
        v = _value_tensor(value, self.dtype)
        if tuple(v.shape) != tuple(self.shape):
            raise ValueError(f"Variable.{what}: the shape of the value {tuple(v.shape)} does not match the "
                             f"shape {tuple(self.shape)} of variable '{self.path}'")
        if v.device != self.device:
            v = v.to(self.device)
        return v

    def assign(self, value):
        """Writes `value` into the Variable in place (not recorded on any tape); returns it."""
        v = self._checked_value(value, "assign")
        with _no_grad():
            self.copy_(v)
        return self

    def assign_add(self, delta):
        v = self._checked_value(delta, "assign_add")
        with _no_grad():
            self.add_(v)
        return self

    def assign_sub(self, delta):
        v = self._checked_value(delta, "assign_sub")
        with _no_grad():
            self.sub_(v)
        return self

    # ------------------------------------------------------------------ copies and printing
    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = type(self)._copy_of(self)
        memo[id(self)] = out
        return out

    @classmethod
    def _copy_of(cls, var):
        out = Parameter.__new__(cls, var.detach().clone(), requires_grad=False)
        out._init(var.trainable, var.name)
        out._path = var.path
        return out

    def __reduce_ex__(self, protocol):
        return (_rebuild_variable, (type(self), self.numpy(), self.trainable, self.name, self.path,
                                    str(self.device)))

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={tuple(self.shape)}, dtype={self.dtype.name}, "
                f"value={self.numpy()}>")

    __str__ = __repr__


def _rebuild_variable(cls, arr, trainable, name, path, device):
    data = _core.from_numpy(arr)
    if device != "cpu":
        data = data.to(device)
    out = Parameter.__new__(cls, data, requires_grad=False)
    out._init(trainable, name)
    out._path = path
    return out


def _no_grad():
    from .autograd import no_grad
    return no_grad()


class KerasVariable(Variable):
    """`keras.Variable(initializer, shape=None, dtype=None, trainable=True, autocast=True,
    aggregation="none", synchronization="auto", name=None)`: Keras 3's argument order.

    `initializer` is a value, or a callable `initializer(shape, dtype)` (or an initializer's
    name) evaluated with `shape`; the dtype defaults to the float type, as in Keras.
    """

    def __new__(cls, initializer=None, shape=None, dtype=None, trainable=True, autocast=True,
                aggregation="none", synchronization="auto", name=None):
        if name is not None and "/" in str(name):
            raise ValueError(f"Argument `name` must be a string and cannot contain character `/`. Received: name={name}")
        from ._dtype import get_default_dtype
        dtype = to_dtype(dtype) if dtype is not None else get_default_dtype()
        if isinstance(initializer, str):
            from .keras import initializers
            initializer = initializers.get(initializer)
        if callable(initializer) and not isinstance(initializer, (Tensor, np.ndarray)):
            if shape is None:
                raise ValueError(f"When creating a Variable from an initializer, the `shape` argument should be "
                                 f"specified. Received: initializer={initializer} and shape={shape}")
            initializer = initializer(tuple(shape), dtype=dtype.name)
        elif shape is not None and tuple(np.shape(initializer)) != tuple(shape):
            raise ValueError(f"Initial value has shape {tuple(np.shape(initializer))} but the variable was given "
                             f"shape={tuple(shape)}")
        return Variable.__new__(cls, initializer, trainable=trainable, name=name, dtype=dtype)
