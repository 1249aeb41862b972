"""The tensor API's one registry.

Each op is declared once, by `@op` on its definition. Registering attaches it to `Tensor` as a
plain class attribute (a method, property or operator; no `__getattr__` on the call path), adds
its in-place `name_` variant, and records it in `FUNCTIONS`, from which `ferrograd/__init__`
builds the `ferrograd.<name>` namespace and `__all__`, and `tools/gen_stubs.py` the type stubs.
"""
import functools
from collections.abc import Callable

from . import _core
from ._core import Tensor

# The element-wise unary ops of the Rust op table.
UNARY_NAMES: tuple[str, ...] = tuple(_core.unary_op_names())

# name -> function, for `ferrograd.<name>`.
FUNCTIONS: dict[str, Callable] = {}
# name -> attribute that the registry put on `Tensor` (functions, properties, constants).
METHODS: dict[str, object] = {}
# Method names whose in-place `name_` variant the registry made.
INPLACE: list[str] = []


def op(*names, method=True, function=True, inplace=False, operators=()):
    """Registers the decorated function under `names` (default: its own name).

    method: attach it to `Tensor` under each name (its first argument is the tensor).
    function: export it as `ferrograd.<name>` for each name.
    inplace: also give `Tensor` a `<name>_` for each name, which computes the op and writes the
        result back into the tensor (PyTorch's in-place ops); `operators` names the augmented
        assignment operators (`__iadd__`, ...) that are that in-place method.
    """
    def register(fn):
        all_names = names or (fn.__name__,)
        for name in all_names:
            if function:
                _add(FUNCTIONS, name, fn)
            if method:
                tensor_attribute(name, fn)
            if inplace:
                tensor_attribute(name + "_", _inplace(fn, name + "_"))
                INPLACE.append(name)
        for operator in operators:
            tensor_attribute(operator, METHODS[all_names[0] + "_"])
        return fn
    return register


def tensor_property(name):
    """Registers the decorated getter as the read-only property `Tensor.<name>`."""
    def register(fget):
        tensor_attribute(name, property(fget))
        return fget
    return register


def tensor_attribute(name, value):
    _add(METHODS, name, value)
    setattr(Tensor, name, value)


def _add(table, name, value):
    if name in table and table[name] is not value:
        raise RuntimeError(f"ferrograd registry: '{name}' is registered twice "
                           f"({table[name]!r} and {value!r})")
    table[name] = value


def _inplace(fn, name):
    @functools.wraps(fn)  # `inspect.signature` (and so the stubs) shows the op's own arguments
    def method(self, *args, **kwargs):
        others = [a for a in args if isinstance(a, Tensor)] + [v for v in kwargs.values() if isinstance(v, Tensor)]
        _core.inplace(self, others, lambda x: fn(x, *args, **kwargs))
        return self
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place version of `{name[:-1]}`: writes the result into this tensor."
    return method
