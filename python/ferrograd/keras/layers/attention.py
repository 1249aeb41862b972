"""MultiHeadAttention with Keras's sub-layers and weight shapes (query/key/value kernels
`(dim, heads, key_dim)`, output kernel `(heads, value_dim, output_dim)`), attention over axis 1."""
import math

import ferrograd as torch
import ferrograd.nn.functional as F

from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ._base import Layer
from .core import Dropout, Softmax, _serialize_or_none


class _Projection(Layer):
    """Keras's EinsumDense as MultiHeadAttention uses it: a kernel over the last `in_dims` axes
    of the input onto `out_shape`, plus a bias of `out_shape`."""

    def __init__(self, kernel_shape, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                 bias_regularizer, in_dims, **kwargs):
        super().__init__(**kwargs)
        self.kernel_shape, self.in_dims, self.use_bias = tuple(kernel_shape), in_dims, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape=None):
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        out_shape = self.kernel_shape[self.in_dims:]
        self.bias = self.add_weight(name="bias", shape=out_shape, initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self.built = True

    def call(self, x):
        in_shape, out_shape = self.kernel_shape[:self.in_dims], self.kernel_shape[self.in_dims:]
        lead = x.shape[:x.ndim - self.in_dims]
        flat = x.reshape(-1, math.prod(in_shape)) @ self.kernel.reshape(math.prod(in_shape), math.prod(out_shape))
        out = flat.reshape(*lead, *out_shape)
        return out + self.bias if self.bias is not None else out


class MultiHeadAttention(Layer):
    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, seed=None, use_gate=False, sliding_window=None, flash_attention=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if kernel_constraint or bias_constraint or use_gate or sliding_window or flash_attention:
            raise NotImplementedError("MultiHeadAttention: constraints, gates, sliding windows and flash attention "
                                      "are not supported by ferrograd.keras")
        if attention_axes not in (None, 1, [1], (1,)):
            raise NotImplementedError(f"MultiHeadAttention(attention_axes={attention_axes}): only attention over "
                                      "axis 1 is supported by ferrograd.keras")
        if output_shape is not None and not isinstance(output_shape, int):
            output_shape = tuple(output_shape)
            if len(output_shape) != 1:
                raise NotImplementedError("MultiHeadAttention: only a 1-D output_shape is supported")
            output_shape = output_shape[0]
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout, self.use_bias, self.output_shape_arg, self.seed = dropout, use_bias, output_shape, seed
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)

    def _projection(self, name, kernel_shape, in_dims):
        return _Projection(kernel_shape, self.use_bias, self.kernel_initializer, self.bias_initializer,
                           self.kernel_regularizer, self.bias_regularizer, in_dims, name=name)

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = key_shape or value_shape
        h = self.num_heads
        self.query_dense = self._projection("query", (query_shape[-1], h, self.key_dim), 1)
        self.key_dense = self._projection("key", (key_shape[-1], h, self.key_dim), 1)
        self.value_dense = self._projection("value", (value_shape[-1], h, self.value_dim), 1)
        for projection in (self.query_dense, self.key_dense, self.value_dense):
            projection.build()
        self._softmax = Softmax(axis=-1, name="softmax")
        self._dropout_layer = Dropout(rate=self.dropout, name="dropout")
        out_dim = self.output_shape_arg or query_shape[-1]
        self.output_dense = self._projection("attention_output", (h, self.value_dim, out_dim), 2)
        self.output_dense.build()
        self._shapes = {"query_shape": list(query_shape), "value_shape": list(value_shape)}
        if key_shape is not value_shape:
            self._shapes["key_shape"] = list(key_shape)
        self.built = True

    def _build_from_call(self, args, kwargs):
        names = ["query", "value", "key"]
        given = dict(zip(names, args))
        given.update({k: v for k, v in kwargs.items() if k in names})
        self.build(tuple(given["query"].shape), tuple(given["value"].shape),
                   tuple(given["key"].shape) if given.get("key") is not None else None)
        self._build_shape = None

    def get_build_config(self):
        return {"shapes_dict": self._shapes} if self.built else None

    def build_from_config(self, config):
        shapes = config.get("shapes_dict")
        if shapes and not self.built:
            self.build(**{k: tuple(v) for k, v in shapes.items()})

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        if query_mask is not None or value_mask is not None or key_mask is not None:
            raise NotImplementedError("MultiHeadAttention: query/value/key masks are not supported; pass "
                                      "attention_mask")
        key = value if key is None else key
        q = self.query_dense(query) * (1.0 / math.sqrt(self.key_dim))   # (B, Tq, H, K)
        k = self.key_dense(key)                                          # (B, Tk, H, K)
        v = self.value_dense(value)                                      # (B, Tk, H, V)
        scores = q.permute(0, 2, 1, 3) @ k.permute(0, 2, 3, 1)          # (B, H, Tq, Tk)
        mask = None
        if attention_mask is not None:
            mask = attention_mask if isinstance(attention_mask, torch.Tensor) else torch.tensor(attention_mask)
            mask = mask.to(torch.bool).to(scores.device).unsqueeze(1)
        if use_causal_mask:
            tq, tk = scores.shape[-2], scores.shape[-1]
            causal = torch.ones(tq, tk, dtype=torch.bool, device=scores.device).tril()
            mask = causal if mask is None else mask & causal
        if mask is not None:
            scores = scores.masked_fill(~mask, -1e9)
        weights = F.softmax(scores, dim=-1)
        weights_dropped = self._dropout_layer(weights, training=training)
        context = (weights_dropped @ v.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)  # (B, Tq, H, V)
        out = self.output_dense(context)
        if return_attention_scores:
            return out, weights
        return out

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "attention_axes": [1],
                "kernel_initializer": _initializers.serialize(self.kernel_initializer),
                "bias_initializer": _initializers.serialize(self.bias_initializer),
                "kernel_regularizer": _serialize_or_none(_regularizers, self.kernel_regularizer),
                "bias_regularizer": _serialize_or_none(_regularizers, self.bias_regularizer),
                "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None, "seed": self.seed}
