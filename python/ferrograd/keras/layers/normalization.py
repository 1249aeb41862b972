"""BatchNormalization and LayerNormalization with Keras's defaults (epsilon 1e-3, momentum 0.99)
and weight order (gamma, beta, moving_mean, moving_variance)."""
import ferrograd as torch

from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ._base import Layer
from .core import _serialize_or_none


def _axes(axis, ndim):
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % ndim for a in axes)


def _param_shape(shape, axes):
    return tuple(shape[a] for a in axes)


def _broadcast_shape(ndim, axes, shape):
    out = [1] * ndim
    for a in axes:
        out[a] = shape[a]
    return out


def _moments(inputs, reduce, mask):
    """Mean and variance over the axes `reduce`; with a mask (the inputs' shape less the last
    axis), over the unmasked positions only, epsilon-guarded as Keras's `_moments`."""
    if mask is None:
        return inputs.mean(reduce, keepdim=True), inputs.var(reduce, unbiased=False, keepdim=True)
    from ..backend import epsilon
    keep = mask.to(torch.bool).unsqueeze(-1).expand(tuple(inputs.shape))
    weight = keep.to(inputs.dtype).sum(reduce, keepdim=True) + epsilon()
    mean = torch.where(keep, inputs, 0.0).sum(reduce, keepdim=True) / weight
    var = torch.where(keep, inputs - mean, 0.0).square().sum(reduce, keepdim=True) / weight
    return mean, var


class BatchNormalization(Layer):
    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, renorm=False, renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if renorm:
            raise NotImplementedError("BatchNormalization: renorm is not supported by ferrograd.keras")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale, self.synchronized = center, scale, synchronized
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)

    def build(self, input_shape):
        self._ndim = len(input_shape)
        self._norm_axes = _axes(self.axis, self._ndim)
        shape = _param_shape(input_shape, self._norm_axes)
        if any(d is None for d in shape):
            raise ValueError(f"BatchNormalization '{self.name}': axis {self.axis} of input shape {input_shape} must be known")
        self.gamma = self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean", initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer, trainable=False)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        ndim = inputs.ndim
        shape = _broadcast_shape(ndim, self._norm_axes, inputs.shape)
        reduce = tuple(a for a in range(ndim) if a not in self._norm_axes)
        if training and self.trainable:
            mean, var = _moments(inputs, reduce, mask)
            with torch.no_grad():
                self.moving_mean.mul_(self.momentum).add_(mean.detach().reshape(self.moving_mean.shape) * (1 - self.momentum))
                self.moving_variance.mul_(self.momentum).add_(
                    var.detach().reshape(self.moving_variance.shape) * (1 - self.momentum))
        else:
            mean, var = self.moving_mean.reshape(shape), self.moving_variance.reshape(shape)
        out = (inputs - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            out = out * self.gamma.reshape(shape)
        if self.beta is not None:
            out = out + self.beta.reshape(shape)
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": _initializers.serialize(self.beta_initializer),
                "gamma_initializer": _initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": _initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": _initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": _serialize_or_none(_regularizers, self.beta_regularizer),
                "gamma_regularizer": _serialize_or_none(_regularizers, self.gamma_regularizer),
                "beta_constraint": _serialize_or_none(_constraints, self.beta_constraint),
                "gamma_constraint": _serialize_or_none(_constraints, self.gamma_constraint), "synchronized": self.synchronized}


class LayerNormalization(Layer):
    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, float(epsilon)
        self.center, self.scale, self.rms_scaling = center, scale, rms_scaling
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)

    def build(self, input_shape):
        self._norm_axes = _axes(self.axis, len(input_shape))
        shape = _param_shape(input_shape, self._norm_axes)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale or self.rms_scaling else None
        self.beta = self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center and not self.rms_scaling else None
        self.built = True

    def call(self, inputs):
        axes = tuple(self._norm_axes)
        shape = _broadcast_shape(inputs.ndim, self._norm_axes, inputs.shape)
        if self.rms_scaling:
            # as Keras 3 does (and warns about): the inputs scaled by their variance, not re-centred
            out = inputs * torch.rsqrt(inputs.var(axes, unbiased=False, keepdim=True) + self.epsilon)
        else:
            mean = inputs.mean(axes, keepdim=True)
            var = inputs.var(axes, unbiased=False, keepdim=True)
            out = (inputs - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            out = out * self.gamma.reshape(shape)
        if self.beta is not None:
            out = out + self.beta.reshape(shape)
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": _initializers.serialize(self.beta_initializer),
                "gamma_initializer": _initializers.serialize(self.gamma_initializer),
                "beta_regularizer": _serialize_or_none(_regularizers, self.beta_regularizer),
                "gamma_regularizer": _serialize_or_none(_regularizers, self.gamma_regularizer),
                "beta_constraint": _serialize_or_none(_constraints, self.beta_constraint),
                "gamma_constraint": _serialize_or_none(_constraints, self.gamma_constraint)}
