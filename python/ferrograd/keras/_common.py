"""Pieces every part of `ferrograd.keras` shares: conversion of user data to tensors, Keras's
automatic layer names, the training flag that an outer call hands to the layers it calls, and
the variables that layers own."""
import re
import threading
import weakref

import numpy as np

import ferrograd as torch

_name_counts = {}


def to_snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """Keras's automatic names: `dense`, `dense_1`, `dense_2`, ... per session."""
    count = _name_counts.get(prefix, 0)
    _name_counts[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session():
    """`keras.backend.clear_session()`: restart the automatic layer names."""
    _name_counts.clear()


def numpy_for_tensor(array, float_dtype=np.float32):
    """A numpy array in a dtype the core accepts: floats become `float_dtype`, integers int64."""
    array = np.asarray(array)
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=float_dtype)
    if array.dtype.kind in "iu":
        return np.ascontiguousarray(array, dtype=np.int64)
    if array.dtype.kind == "b":
        return np.ascontiguousarray(array)
    raise TypeError(f"cannot convert an array of dtype {array.dtype} to a ferrograd tensor")


def to_tensor(x, device=None, dtype=None):
    """User data (numpy array, Python number or list, ferrograd tensor) as a ferrograd tensor,
    as `keras.ops.convert_to_tensor` would: floats in float32 unless `dtype` says otherwise."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        t = torch.from_numpy(numpy_for_tensor(x))
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if device is not None and t.device != device:
        t = t.to(device)
    return t


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class _CallContext(threading.local):
    training = None


call_context = _CallContext()


def make_variable(value, trainable=True, name=None):
    """A layer weight: a `keras.Variable` (a ferrograd Parameter) holding `value`."""
    from .._variable import KerasVariable
    return KerasVariable(value, trainable=trainable, name=name, dtype=value.dtype)


def assign(var, value):
    """Write `value` (numpy or tensor) into `var` in place, checking the shape."""
    value = to_tensor(value, device=var.device, dtype=var.dtype)
    if tuple(value.shape) != tuple(var.shape):
        raise ValueError(f"cannot assign a value of shape {tuple(value.shape)} to variable "
                         f"'{var.name}' of shape {tuple(var.shape)}")
    with torch.no_grad():
        var.copy_(value)


def config_kwargs(cls, config, extra=()):
    """`config` without the keys `cls.__init__` does not take whose values are empty (Keras adds
    new options with null defaults); an unknown option that is set raises, naming it."""
    import inspect
    accepted = set(extra)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        accepted.update(n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
        elif value not in (None, False, [], {}, ()):
            raise NotImplementedError(f"{cls.__name__}: option {key}={value!r} is not supported by ferrograd.keras")
    return out


# Keras keeps a mask on the tensor it masks (`x._keras_mask`). ferrograd tensors have no
# __dict__ (one would cost every tensor), so masks live here by id(), each entry leaving with its
# tensor (a weakref callback), and `Tensor._keras_mask` reads and writes this table.
def serialize_object(obj, module):
    """Keras's serialization of a config-carrying object (initializer, regularizer, constraint)."""
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(), "registered_name": None}


def deserialize_object(config, classes, what):
    """The object `serialize_object` described, from its class in `classes`."""
    cls = classes.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown {what}: {config['class_name']!r}")
    return cls.from_config(config.get("config", {}))


_MASKS = {}


def get_keras_mask(x):
    """The mask attached to tensor `x` by a masking layer, or None."""
    entry = _MASKS.get(id(x)) if _MASKS else None
    return entry[1] if entry is not None and entry[0]() is x else None


def set_keras_mask(x, mask):
    key = id(x)
    if mask is None:
        _MASKS.pop(key, None)
    else:
        _MASKS[key] = (weakref.ref(x, lambda _, key=key: _MASKS.pop(key, None)), mask)


torch.Tensor._keras_mask = property(get_keras_mask, set_keras_mask)
