"""SimpleRNN, LSTM, GRU and Bidirectional with Keras's weights (kept in a `cell`, kernels
`(input_dim, gates * units)`, gate order i, f, c, o for LSTM and z, r, h for GRU) and
`return_sequences` / `return_state` / `go_backwards`. The input projection of all time steps is
one matmul; the recurrence runs step by step on ferrograd ops, so autograd flows through it."""
import ferrograd as torch

from .. import activations as _activations
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ._base import Layer
from .core import _serialize_or_none


class _Cell(Layer):
    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, unit_forget_bias=True,
                 reset_after=True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.unit_forget_bias, self.reset_after = unit_forget_bias, reset_after

    def build(self, input_shape):
        width = self.gates * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], width), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        self.bias = self.add_weight(shape=self._bias_shape(), name="bias", initializer=self._bias_init(),
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self.built = True

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def project_inputs(self, x):
        """x @ kernel (+ input bias) for all time steps at once: (batch, time, gates * units)."""
        out = x @ self.kernel
        bias = self._input_bias()
        return out + bias if bias is not None else out

    def _input_bias(self):
        return self.bias

    def initial_states(self, batch, like):
        return [torch.zeros(batch, self.units, dtype=like.dtype, device=like.device)]


class SimpleRNNCell(_Cell):
    def step(self, xk, states):
        h = self.activation(xk + states[0] @ self.recurrent_kernel)
        return h, [h]


class LSTMCell(_Cell):
    gates = 4

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def init(shape, dtype=None):
            return torch.cat([base((units,), dtype), torch.ones(units, device="cpu"), base((2 * units,), dtype)])
        return init

    def initial_states(self, batch, like):
        return [torch.zeros(batch, self.units, dtype=like.dtype, device=like.device) for _ in range(2)]

    def step(self, xk, states):
        h, c = states
        z = xk + h @ self.recurrent_kernel
        i, f, g, o = z.chunk(4, dim=-1)
        i, f, o = self.recurrent_activation(i), self.recurrent_activation(f), self.recurrent_activation(o)
        c = f * c + i * self.activation(g)
        h = o * self.activation(c)
        return h, [h, c]


class GRUCell(_Cell):
    gates = 3

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(self, xk, states):
        h = states[0]
        u = self.units
        x_z, x_r, x_h = xk.chunk(3, dim=-1)
        if self.reset_after:
            rec = h @ self.recurrent_kernel
            if self.bias is not None:
                rec = rec + self.bias[1]
            r_z, r_r, r_h = rec.chunk(3, dim=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            rec = h @ self.recurrent_kernel[:, :2 * u]
            r_z, r_r = rec.chunk(2, dim=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + (r * h) @ self.recurrent_kernel[:, 2 * u:])
        h = z * h + (1.0 - z) * candidate
        return h, [h]


class _RNN(Layer):
    cell_class = None

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 seed=None, recurrent_activation="sigmoid", unit_forget_bias=True, reset_after=True,
                 use_cudnn="auto", **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if dropout or recurrent_dropout:
            raise NotImplementedError(f"{type(self).__name__}: dropout / recurrent_dropout are not supported by "
                                      "ferrograd.keras (use a Dropout layer on the inputs or outputs)")
        if stateful:
            raise NotImplementedError(f"{type(self).__name__}(stateful=True) is not supported by ferrograd.keras")
        if kernel_constraint or recurrent_constraint or bias_constraint:
            raise NotImplementedError(f"{type(self).__name__}: constraints are not supported by ferrograd.keras")
        self.units = units
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll, self.seed = go_backwards, stateful, unroll, seed
        self.cell = self.cell_class(units, activation=activation, recurrent_activation=recurrent_activation,
                                    use_bias=use_bias, kernel_initializer=kernel_initializer,
                                    recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                                    kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                                    bias_regularizer=bias_regularizer, unit_forget_bias=unit_forget_bias,
                                    reset_after=reset_after, name=f"{self._cell_name()}", dtype=kwargs.get("dtype"))

    def _cell_name(self):
        from .._common import to_snake_case, unique_name
        return unique_name(to_snake_case(self.cell_class.__name__))

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs of shape (batch, timesteps, "
                             f"features); got {sequences_shape}")
        if not self.cell.built:
            self.cell.build(sequences_shape)
            self.cell.built = True
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if mask is not None:
            raise NotImplementedError(f"{type(self).__name__}: masks are not supported by ferrograd.keras")
        if sequences.ndim != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs of shape (batch, timesteps, "
                             f"features); got {tuple(sequences.shape)}")
        if not sequences.is_floating_point():
            sequences = sequences.to(self.cell.kernel.dtype)
        batch, steps = sequences.shape[0], sequences.shape[1]
        if initial_state is None:
            states = self.cell.initial_states(batch, sequences)
        else:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        projected = self.cell.project_inputs(sequences)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        output = None
        for t in order:
            output, states = self.cell.step(projected[:, t], states)
            if self.return_sequences:
                outputs.append(output)
        if output is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the input sequence has no time steps")
        result = torch.stack(outputs, dim=1) if self.return_sequences else output
        if self.return_state:
            return [result] + list(states)
        return result

    def get_config(self):
        cell = self.cell
        config = {**super().get_config(), "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                  "unroll": self.unroll, "zero_output_for_mask": False, "units": self.units,
                  "activation": _activations.serialize(cell.activation), "use_bias": cell.use_bias,
                  "kernel_initializer": _initializers.serialize(cell.kernel_initializer),
                  "recurrent_initializer": _initializers.serialize(cell.recurrent_initializer),
                  "bias_initializer": _initializers.serialize(cell.bias_initializer),
                  "kernel_regularizer": _serialize_or_none(_regularizers, cell.kernel_regularizer),
                  "recurrent_regularizer": _serialize_or_none(_regularizers, cell.recurrent_regularizer),
                  "bias_regularizer": _serialize_or_none(_regularizers, cell.bias_regularizer),
                  "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
                  "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "seed": self.seed}
        return config


class SimpleRNN(_RNN):
    cell_class = SimpleRNNCell


class LSTM(_RNN):
    cell_class = LSTMCell

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": _activations.serialize(self.cell.recurrent_activation),
                "unit_forget_bias": self.cell.unit_forget_bias}


class GRU(_RNN):
    cell_class = GRUCell

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": _activations.serialize(self.cell.recurrent_activation),
                "reset_after": self.cell.reset_after}


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, merging their outputs."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, _RNN):
            raise ValueError(f"Please initialize `Bidirectional` layer with a recurrent layer instance (SimpleRNN, "
                             f"LSTM, GRU). Received: {layer}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
                             "{'sum', 'mul', 'ave', 'concat', None}")
        config = layer.get_config()
        self.forward_layer = type(layer).from_config({**config, "name": f"forward_{layer.name}"})
        if backward_layer is None:
            backward_layer = type(layer).from_config({**config, "name": f"backward_{layer.name}",
                                                      "go_backwards": not config["go_backwards"]})
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        if weights is not None:
            self._initial_weights = weights

    def build(self, sequences_shape, initial_state_shape=None):
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(sequences_shape)
                layer.built = True
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            half = len(initial_state) // 2
            forward = self.forward_layer(sequences, initial_state=initial_state[:half])
            backward = self.backward_layer(sequences, initial_state=initial_state[half:])
        else:
            forward, backward = self.forward_layer(sequences), self.backward_layer(sequences)
        states = []
        if self.return_state:
            states = forward[1:] + backward[1:]
            forward, backward = forward[0], backward[0]
        if self.return_sequences:
            backward = backward.flip(1)
        if self.merge_mode == "concat":
            out = torch.cat([forward, backward], dim=-1)
        elif self.merge_mode == "sum":
            out = forward + backward
        elif self.merge_mode == "ave":
            out = (forward + backward) * 0.5
        elif self.merge_mode == "mul":
            out = forward * backward
        else:
            out = [forward, backward]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def get_config(self):
        from ..saving import serialize_keras_object
        forward_config = serialize_keras_object(self.forward_layer)
        forward_config["config"]["name"] = self.forward_layer.name.removeprefix("forward_")
        forward_config.pop("build_config", None)
        return {**super().get_config(), "merge_mode": self.merge_mode, "layer": forward_config,
                "backward_layer": {k: v for k, v in serialize_keras_object(self.backward_layer).items()
                                   if k != "build_config"}}

    @classmethod
    def from_config(cls, config):
        from ..saving import deserialize_keras_object
        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_keras_object(backward)
        return super().from_config({**config, "layer": layer, "backward_layer": backward})
