"""Layers that merge a list of inputs: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate."""
import functools

import ferrograd as torch

from ._base import Layer


class _Merge(Layer):
    supports_masking = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: input_shape={input_shape}")
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: inputs={inputs}")
        return functools.reduce(self._merge, inputs)

    def compute_mask(self, inputs, previous_mask):
        """Keras's: the OR of the inputs' masks, None unless every input has one."""
        if previous_mask is None or any(m is None for m in previous_mask):
            return None
        return functools.reduce(torch.logical_or, previous_mask)


class Add(_Merge):
    _merge = staticmethod(lambda a, b: a + b)


class Multiply(_Merge):
    _merge = staticmethod(lambda a, b: a * b)


class Maximum(_Merge):
    _merge = staticmethod(torch.maximum)


class Minimum(_Merge):
    _merge = staticmethod(torch.minimum)


class Subtract(_Merge):
    def call(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. Received: inputs={inputs}")
        return inputs[0] - inputs[1]


class Average(_Merge):
    def call(self, inputs):
        return functools.reduce(Add._merge, inputs) / len(inputs)


class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return torch.cat(list(inputs), dim=self.axis)

    def compute_mask(self, inputs, previous_mask):
        """Keras's: the inputs' masks (all True for an unmasked input) broadcast to the inputs,
        concatenated, then any() over the last axis."""
        if previous_mask is None or all(m is None for m in previous_mask):
            return None
        full = []
        for x, m in zip(inputs, previous_mask):
            if m is None:
                m = torch.ones(tuple(x.shape), dtype=torch.bool, device=x.device)
            elif m.ndim < x.ndim:
                m = m.unsqueeze(-1).expand(tuple(x.shape))
            full.append(m)
        return torch.cat(full, dim=self.axis).any(-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
