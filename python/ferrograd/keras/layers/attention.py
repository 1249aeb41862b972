"""MultiHeadAttention with Keras's sub-layers and weight shapes (query/key/value kernels
`(dim, heads, key_dim)`, output kernel `(heads, value_dim, output_dim)`), attention over any
axes (`attention_axes`; by default all axes between the batch and the features), through the
einsum equations Keras builds, and Keras's masks (query/value/key masks from the inputs)."""
import math
import string

import ferrograd as torch
import ferrograd.nn.functional as F

from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._common import get_keras_mask, set_keras_mask
from ._base import Layer
from .core import Dropout, Softmax, _serialize_or_none


class _Projection(Layer):
    """Keras's EinsumDense as MultiHeadAttention uses it: a kernel over the last `in_dims` axes
    of the input onto `out_shape`, plus a bias of `out_shape`."""

    def __init__(self, kernel_shape, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                 bias_regularizer, kernel_constraint, bias_constraint, in_dims, **kwargs):
        super().__init__(**kwargs)
        self.kernel_shape, self.in_dims, self.use_bias = tuple(kernel_shape), in_dims, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def build(self, input_shape=None):
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        out_shape = self.kernel_shape[self.in_dims:]
        self.bias = self.add_weight(name="bias", shape=out_shape, initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def call(self, x):
        in_shape, out_shape = self.kernel_shape[:self.in_dims], self.kernel_shape[self.in_dims:]
        lead = x.shape[:x.ndim - self.in_dims]
        flat = x.reshape(-1, math.prod(in_shape)) @ self.kernel.reshape(math.prod(in_shape), math.prod(out_shape))
        out = flat.reshape(*lead, *out_shape)
        return out + self.bias if self.bias is not None else out


def _attention_equations(rank, attn_axes):
    """Keras's `_build_attention_equation`: the einsum of the scores (key, query -> scores) and
    of the output (scores, value -> output) for projected tensors of `rank` dimensions."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch_dims = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += letters[offset]
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes]
                      + [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}"


class MultiHeadAttention(Layer):
    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, seed=None, use_gate=False, sliding_window=None, flash_attention=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if use_gate or sliding_window or flash_attention:
            raise NotImplementedError("MultiHeadAttention: gates, sliding windows and flash attention are not "
                                      "supported by ferrograd.keras")
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        self._attention_axes = tuple(attention_axes) if attention_axes is not None else None
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
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    def _projection(self, name, kernel_shape, in_dims):
        return _Projection(kernel_shape, self.use_bias, self.kernel_initializer, self.bias_initializer,
                           self.kernel_regularizer, self.bias_regularizer, self.kernel_constraint,
                           self.bias_constraint, in_dims, name=name)

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
        rank = len(query_shape) + 1  # the projected query: (..., heads, key_dim)
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        axes = tuple(a + rank if a < 0 else a for a in self._attention_axes)
        self._dot_product_equation, self._combine_equation = _attention_equations(rank, axes)
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

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras's `_compute_attention_mask`: the query mask over rows, the value and key masks
        over columns, the causal mask, and `attention_mask`, combined with AND."""
        def as_bool(m):
            m = m if isinstance(m, torch.Tensor) else torch.tensor(m)
            return m.to(torch.bool).to(query.device)
        masks = []
        if query_mask is not None:
            masks.append(as_bool(query_mask).unsqueeze(-1))
        masks += [as_bool(m).unsqueeze(-2) for m in (value_mask, key_mask) if m is not None]
        if use_causal_mask:
            q, v = query.shape[1], value.shape[1]
            masks.append(torch.ones(1, q, v, dtype=torch.bool, device=query.device).tril())
        if attention_mask is not None:
            masks.insert(0, as_bool(attention_mask))
        if not masks:
            return None
        combined = masks[0]
        for m in masks[1:]:
            combined = combined & m
        return combined

    def _masked_softmax(self, scores, mask):
        """Softmax over the key attention axes (the last ones of the scores), masked positions
        pushed down by -1e9 as Keras's Softmax does."""
        n = len(self._attention_axes)
        if mask is not None:
            while mask.ndim < scores.ndim:
                mask = mask.unsqueeze(-2 * n - 1)  # the heads axis
            scores = scores + (1.0 - mask.to(scores.dtype)) * -1e9
        lead = tuple(scores.shape[:scores.ndim - n])
        return F.softmax(scores.reshape(*lead, -1), dim=-1).reshape(tuple(scores.shape))

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        key = value if key is None else key
        # Keras takes the masks carried by the inputs and handles them here, off the inputs.
        query_mask = get_keras_mask(query) if query_mask is None else query_mask
        value_mask = get_keras_mask(value) if value_mask is None else value_mask
        key_mask = get_keras_mask(key) if key_mask is None and key is not value else key_mask
        for t in (query, value, key):
            set_keras_mask(t, None)
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask)
        q = self.query_dense(query) * (1.0 / math.sqrt(self.key_dim))   # (B, ..., H, K)
        k = self.key_dense(key)
        v = self.value_dense(value)
        weights = self._masked_softmax(torch.einsum(self._dot_product_equation, k, q), mask)
        weights_dropped = self._dropout_layer(weights, training=training)
        out = self.output_dense(torch.einsum(self._combine_equation, weights_dropped, v))
        if query_mask is not None:
            set_keras_mask(out, query_mask)
        if return_attention_scores:
            return out, weights
        return out

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg,
                "attention_axes": list(self._attention_axes) if self._attention_axes is not None else None,
                "kernel_initializer": _initializers.serialize(self.kernel_initializer),
                "bias_initializer": _initializers.serialize(self.bias_initializer),
                "kernel_regularizer": _serialize_or_none(_regularizers, self.kernel_regularizer),
                "bias_regularizer": _serialize_or_none(_regularizers, self.bias_regularizer),
                "activity_regularizer": None,
                "kernel_constraint": _serialize_or_none(_constraints, self.kernel_constraint),
                "bias_constraint": _serialize_or_none(_constraints, self.bias_constraint), "seed": self.seed}
