"""`ferrograd.autograd`: backward, grad, grad modes and gradcheck."""
import functools
import threading

from .. import _core
from .._core import Node, Tensor
from .._registry import op
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "gradcheck", "gradgradcheck", "GradcheckError", "Node"]


def _seq(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates gradients of `tensors` into the leaves' `.grad`."""
    tensors = _seq(tensors)
    grads = _seq(grad_tensors) or [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"got {len(grads)} gradients for {len(tensors)} tensors")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = _seq(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        _core.backward_to(tensors, grads, inputs, bool(retain_graph), create_graph)
        return
    _core.run_backward(tensors, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated)."""
    single = isinstance(inputs, Tensor)
    outputs, inputs = _seq(outputs), _seq(inputs)
    grads = _seq(grad_outputs) or [None] * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    result = _core.grad(outputs, grads, inputs, retain_graph, create_graph, allow_unused)
    if materialize_grads:
        result = [g if g is not None else _core.full(list(i.shape), 0.0, i._dtype) for g, i in zip(result, inputs)]
    return tuple(result)


def is_grad_enabled():
    return _core.is_grad_enabled()


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    enabled = True

    def __enter__(self):
        self._prev = _core.set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args()):
                return fn(*args, **kwargs)
        return wrapper

    def _args(self):
        return ()


class no_grad(_GradMode):
    """Context manager and decorator that turns off gradient recording (per thread)."""

    enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns gradient recording on (per thread)."""

    enabled = True


class set_grad_enabled(_GradMode):
    """Sets grad mode to `mode`: right away (function form) and as a context manager."""

    def __init__(self, mode):
        self.enabled = bool(mode)
        self._prev = _core.set_grad_enabled(self.enabled)

    def __enter__(self):
        return self

    def _args(self):
        return (self.enabled,)


class inference_mode(no_grad):
    def __init__(self, mode=True):
        self.enabled = not mode


_local = threading.local()


@op("backward", function=False)
def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    if inputs is not None:
        return backward([self], [gradient], retain_graph, create_graph, inputs)
    self._backward(gradient, retain_graph, create_graph)


@op("register_hook", function=False)
def _register_hook(self, hook):
    """`hook(grad) -> Tensor or None`, called with this tensor's gradient during backward; a
    returned tensor replaces the gradient. Returns a handle whose `remove()` unregisters it."""
    return self._register_hook(hook)


@op("register_post_accumulate_grad_hook", function=False)
def _register_post_accumulate_grad_hook(self, hook):
    """`hook(tensor)`, called on a leaf once backward has accumulated its gradient into `.grad`."""
    return self._register_post_accumulate_grad_hook(hook)
