"""Conv1D, Conv2D, Conv2DTranspose (channels_last by default, kernels in Keras's layouts) and
the pooling layers. The core's kernels are NCHW: channels_last inputs are permuted to it and the
outputs permuted back as views, so a stack of channels_last layers hands each kernel NCHW data
without extra copies."""
import ferrograd as torch
import ferrograd.nn.functional as F

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ._base import Layer
from .core import _serialize_or_none


_ELEMENTWISE = {_activations.linear, _activations.relu, _activations.relu6, _activations.leaky_relu,
                _activations.sigmoid, _activations.hard_sigmoid, _activations.tanh, _activations.elu,
                _activations.selu, _activations.softplus, _activations.softsign, _activations.silu,
                _activations.gelu, _activations.exponential, _activations.mish}


def _tuple(value, rank, name):
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(value)
    if len(value) != rank or not all(isinstance(v, int) for v in value):
        raise ValueError(f"The `{name}` argument must be a tuple of {rank} integers. Received {name}={value}")
    return value


def _data_format(data_format):
    from .. import backend
    data_format = data_format or backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of \"channels_first\", \"channels_last\". "
                         f"Received: data_format={data_format}")
    return data_format


def _padding(padding, allowed=("valid", "same")):
    padding = padding.lower()
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be one of {', '.join(map(repr, allowed))}. Received: {padding}")
    return padding


def _same_pads(size, kernel, stride, dilation):
    """TensorFlow's 'same' padding of one axis: (before, after), the extra one after."""
    span = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _to_nchw(x, data_format, rank):
    """channels_last (N, *spatial, C) -> (N, C, *spatial); 1-D inputs gain a unit height."""
    if data_format == "channels_last":
        x = x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))
    return x.unsqueeze(2) if rank == 1 else x


def _from_nchw(y, data_format, rank):
    if rank == 1:
        y = y.squeeze(2)
    if data_format == "channels_last":
        y = y.permute(0, *range(2, y.ndim), 1)
    return y


def _activate_nchw(activation, y, data_format, rank):
    """activation(y) as a channels-last tensor. An element-wise activation runs before the
    permute back, so its output stays NCHW in memory and the next conv or pool reads it
    without a copy; softmax-like ones (and unknown callables) run on the channels-last view."""
    if activation in _ELEMENTWISE:
        return _from_nchw(activation(y), data_format, rank)
    return activation(_from_nchw(y, data_format, rank))


def _pad_spatial(x, pads, value=0.0):
    """Pads the trailing spatial axes of an NC(H)W tensor by [(before, after), ...] (height first)."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    if not any(flat):
        return x
    return F.pad(x, flat, value=value)


class _Conv(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if lora_rank:
            raise NotImplementedError(f"{type(self).__name__}: LoRA is not supported by ferrograd.keras")
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. Received filters={filters}")
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.padding = _padding(padding, ("valid", "same", "causal") if self.rank == 1 else ("valid", "same"))
        self.data_format = _data_format(data_format)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`.")
        self.groups = groups
        self.activation = _activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)

    def _channels(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the channel dimension of the inputs must be known, "
                             f"got input shape {input_shape}")
        return channels

    def build(self, input_shape):
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {channels} channels")
        self.kernel = self.add_weight(name="kernel", shape=self._kernel_shape(channels),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _kernel_shape(self, channels):
        return self.kernel_size + (channels // self.groups, self.filters)

    def _torch_weight(self):
        """(*k, in, out) -> (out, in, kh, kw)."""
        w = self.kernel.permute(self.rank + 1, self.rank, *range(self.rank))
        return w.unsqueeze(2) if self.rank == 1 else w

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected ndim="
                             f"{self.rank + 2}, found ndim={inputs.ndim}. Full shape received: {tuple(inputs.shape)}")
        x = _to_nchw(inputs, self.data_format, self.rank)
        spatial = x.shape[2:] if self.rank == 2 else x.shape[3:]
        if self.padding == "same":
            pads = [_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        elif self.padding == "causal":
            pads = [(self.dilation_rate[0] * (self.kernel_size[0] - 1), 0)]
        else:
            pads = [(0, 0)] * self.rank
        if self.rank == 1:
            pads = [(0, 0)] + pads
        symmetric = all(before == after for before, after in pads)
        if not symmetric:
            x = _pad_spatial(x, pads)
        strides = (1,) + self.strides if self.rank == 1 else self.strides
        dilation = (1,) + self.dilation_rate if self.rank == 1 else self.dilation_rate
        y = F.conv2d(x, self._torch_weight(), self.bias, strides, tuple(p[0] for p in pads) if symmetric else 0,
                     dilation, self.groups)
        return _activate_nchw(self.activation, y, self.data_format, self.rank)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": _activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": _initializers.serialize(self.kernel_initializer),
                "bias_initializer": _initializers.serialize(self.bias_initializer),
                "kernel_regularizer": _serialize_or_none(_regularizers, self.kernel_regularizer),
                "bias_regularizer": _serialize_or_none(_regularizers, self.bias_regularizer),
                "activity_regularizer": _serialize_or_none(_regularizers, self.activity_regularizer),
                "kernel_constraint": _serialize_or_none(_constraints, self.kernel_constraint),
                "bias_constraint": _serialize_or_none(_constraints, self.bias_constraint)}


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); kernel `(kernel_size, in, filters)`."""
    rank = 1


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels); kernel `(kh, kw, in, filters)`."""
    rank = 2


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution; kernel `(kh, kw, filters, in)`; output sizes as Keras's
    (`input * stride` for 'same', `(input - 1) * stride + max(kernel, stride)` for 'valid')."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, **kwargs)
        if self.groups != 1:
            raise NotImplementedError("Conv2DTranspose with groups > 1 is not supported by ferrograd.keras")
        self.output_padding = None if output_padding is None else _tuple(output_padding, 2, "output_padding")

    def _kernel_shape(self, channels):
        return self.kernel_size + (self.filters, channels)

    def _crops(self, axis):
        """Keras's (jax) padding of the dilated input, as crops of the full transposed output."""
        k = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
        s = self.strides[axis]
        op = None if self.output_padding is None else self.output_padding[axis]
        if self.padding == "valid":
            op = max(k, s) - k if op is None else op
            left, right = k - 1, k - 1 + op
        else:
            pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
            left = min(pad_len // 2 + pad_len % 2, k - 1)
            right = pad_len - left
        return k - 1 - left, k - 1 - right

    def call(self, inputs):
        if inputs.ndim != 4:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected ndim=4, "
                             f"found ndim={inputs.ndim}. Full shape received: {tuple(inputs.shape)}")
        x = _to_nchw(inputs, self.data_format, 2)
        weight = self.kernel.permute(3, 2, 0, 1)
        y = F.conv_transpose2d(x, weight, None, self.strides, 0, 0, 1, self.dilation_rate)
        for axis in range(2):
            crop_before, crop_after = self._crops(axis)
            size = y.shape[2 + axis]
            start, stop = max(crop_before, 0), size - max(crop_after, 0)
            y = y.narrow(2 + axis, start, stop - start)
            grow = [(0, 0), (0, 0)]
            grow[axis] = (max(-crop_before, 0), max(-crop_after, 0))
            y = _pad_spatial(y, grow)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return _activate_nchw(self.activation, y, self.data_format, 2)

    def get_config(self):
        config = super().get_config()
        config.pop("groups")
        config["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config


class _Pooling(Layer):
    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else _tuple(strides, self.rank, "strides")
        self.padding = _padding(padding)
        self.data_format = _data_format(data_format)
        self.built = True

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected ndim="
                             f"{self.rank + 2}, found ndim={inputs.ndim}. Full shape received: {tuple(inputs.shape)}")
        x = _to_nchw(inputs, self.data_format, self.rank)
        kernel = (1,) + self.pool_size if self.rank == 1 else self.pool_size
        strides = (1,) + self.strides if self.rank == 1 else self.strides
        pads = [(0, 0)] * 2
        if self.padding == "same":
            pads = [_same_pads(n, k, s, 1) for n, k, s in zip(x.shape[2:], kernel, strides)]
        return _from_nchw(self._pool(x, kernel, strides, pads), self.data_format, self.rank)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "padding": self.padding,
                "strides": list(self.strides), "data_format": self.data_format}


class _MaxPool(_Pooling):
    def _pool(self, x, kernel, strides, pads):
        return F.max_pool2d(_pad_spatial(x, pads, float("-inf")), kernel, strides)


class _AvgPool(_Pooling):
    def _pool(self, x, kernel, strides, pads):
        if not any(p for pair in pads for p in pair):
            return F.avg_pool2d(x, kernel, strides)
        # 'same': the mean over the window's part inside the input, as TensorFlow's.
        ones = torch.ones(1, 1, *x.shape[2:], dtype=x.dtype, device=x.device)
        counts = F.avg_pool2d(_pad_spatial(ones, pads), kernel, strides)
        return F.avg_pool2d(_pad_spatial(x, pads), kernel, strides) / counts


class MaxPooling1D(_MaxPool):
    rank = 1


class MaxPooling2D(_MaxPool):
    rank = 2


class AveragePooling1D(_AvgPool):
    rank = 1


class AveragePooling2D(_AvgPool):
    rank = 2


class _GlobalPooling(Layer):
    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        self.keepdims = keepdims
        self.built = True

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected ndim="
                             f"{self.rank + 2}, found ndim={inputs.ndim}. Full shape received: {tuple(inputs.shape)}")
        dims = tuple(range(1, self.rank + 1)) if self.data_format == "channels_last" else tuple(range(2, self.rank + 2))
        return self._reduce(inputs, dims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalAverage(_GlobalPooling):
    def _reduce(self, x, dims):
        return x.mean(dims, keepdim=self.keepdims)


class _GlobalMax(_GlobalPooling):
    def _reduce(self, x, dims):
        return torch.amax(x, dims, keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalAverage):
    """With a mask (batch, steps), the mean over the unmasked steps, as Keras."""
    rank = 1
    supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        steps = 1 if self.data_format == "channels_last" else 2
        weights = mask.to(inputs.dtype).unsqueeze(2 if steps == 1 else 1)
        return (inputs * weights).sum(steps, keepdim=self.keepdims) / weights.sum(steps, keepdim=self.keepdims)

    def compute_mask(self, inputs, previous_mask):
        return None


class GlobalAveragePooling2D(_GlobalAverage):
    rank = 2


class GlobalMaxPooling1D(_GlobalMax):
    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    rank = 2
