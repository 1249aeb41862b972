"""SimpleRNN, LSTM, GRU and Bidirectional with Keras's weights (kept in a `cell`, kernels
`(input_dim, gates * units)`, gate order i, f, c, o for LSTM and z, r, h for GRU) and
`return_sequences` / `return_state` / `go_backwards` / `stateful`, masks and dropout. The input
projection of all time steps is one matmul; the recurrence runs step by step on ferrograd ops,
so autograd flows through it.

Keras's rules kept here: a masked time step leaves the states unchanged and outputs the previous
output (zeros with `zero_output_for_mask`); dropout masks are drawn once per call and used at
every step, one per gate for LSTM/GRU when `recurrent_dropout` is set (Keras's implementation 1,
which it then forces), else one for all gates."""
import ferrograd as torch
import ferrograd.nn.functional as F

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._common import make_variable
from ._base import Layer
from .core import _serialize_or_none


class _Cell(Layer):
    gates = 1
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 unit_forget_bias=True, reset_after=True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dropout = min(1.0, max(0.0, dropout))
        self.recurrent_dropout = min(1.0, max(0.0, recurrent_dropout))
        self.seed = seed
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.recurrent_constraint = _constraints.get(recurrent_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
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
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = self.add_weight(shape=self._bias_shape(), name="bias", initializer=self._bias_init(),
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _mask_count(self):
        """Masks per dropout: one per gate (Keras's implementation 1) or None for one in all."""
        return self.gates if self.recurrent_dropout != 0 and self.gates > 1 else None

    def _create_dropout_mask(self, like, rate):
        """Keras's `DropoutRNNCell._create_dropout_mask`: `dropout(ones_like(like), rate)`, one
        per gate or a single one."""
        count = self._mask_count()
        draw = lambda: F.dropout(torch.ones_like(like), rate, training=True)  # noqa: E731
        return draw() if count is None else [draw() for _ in range(count)]

    def dropout_masks(self, step_input, state, training):
        """(input masks, recurrent masks) for one call: drawn when training, else None."""
        inputs = self._create_dropout_mask(step_input, self.dropout) if training and 0 < self.dropout < 1 else None
        recurrent = (self._create_dropout_mask(state, self.recurrent_dropout)
                     if training and 0 < self.recurrent_dropout < 1 else None)
        return inputs, recurrent

    def _gate_columns(self, weight, g):
        return weight[:, g * self.units:(g + 1) * self.units]

    def _masked_matmul(self, x, weight, masks):
        """`x @ weight` with x dropped by `masks`: one mask for all columns, or one per gate's
        columns (x of shape (..., features); a mask (batch, features) is broadcast over time)."""
        if masks is None:
            return x @ weight
        expand = (lambda m: m.unsqueeze(1)) if x.ndim == 3 else (lambda m: m)  # noqa: E731
        if not isinstance(masks, list):
            return (x * expand(masks)) @ weight
        return torch.cat([(x * expand(m)) @ self._gate_columns(weight, g) for g, m in enumerate(masks)], dim=-1)

    def project_inputs(self, x, masks=None):
        """x @ kernel (+ input bias) for all time steps at once: (batch, time, gates * units)."""
        out = self._masked_matmul(x, self.kernel, masks)
        bias = self._input_bias()
        return out + bias if bias is not None else out

    def _input_bias(self):
        return self.bias

    def initial_states(self, batch, like):
        return [torch.zeros(batch, self.units, dtype=like.dtype, device=like.device)]


class SimpleRNNCell(_Cell):
    def step(self, xk, states, rec_masks=None):
        h = self.activation(xk + self._masked_matmul(states[0], self.recurrent_kernel, rec_masks))
        return h, [h]


class LSTMCell(_Cell):
    gates = 4
    state_count = 2

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def init(shape, dtype=None):
            return torch.cat([base((units,), dtype), torch.ones(units, device="cpu"), base((2 * units,), dtype)])
        return init

    def initial_states(self, batch, like):
        return [torch.zeros(batch, self.units, dtype=like.dtype, device=like.device) for _ in range(2)]

    def step(self, xk, states, rec_masks=None):
        h, c = states
        z = xk + self._masked_matmul(h, self.recurrent_kernel, rec_masks)
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

    def step(self, xk, states, rec_masks=None):
        h = states[0]
        u = self.units
        x_z, x_r, x_h = xk.chunk(3, dim=-1)
        if self.reset_after:
            rec = self._masked_matmul(h, self.recurrent_kernel, rec_masks)
            if self.bias is not None:
                rec = rec + self.bias[1]
            r_z, r_r, r_h = rec.chunk(3, dim=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            gate_masks, h_dropped = rec_masks, h
            if isinstance(rec_masks, list):
                gate_masks, h_dropped = rec_masks[:2], h * rec_masks[2]
            rec = self._masked_matmul(h, self.recurrent_kernel[:, :2 * u], gate_masks)
            r_z, r_r = rec.chunk(2, dim=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + (r * h_dropped) @ self.recurrent_kernel[:, 2 * u:])
        h = z * h + (1.0 - z) * candidate
        return h, [h]


class _RNN(Layer):
    cell_class = None
    supports_masking = True

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 seed=None, recurrent_activation="sigmoid", unit_forget_bias=True, reset_after=True,
                 use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = units
        self.zero_output_for_mask = zero_output_for_mask
        self.states = None  # stateful: the state Variables, made by build (not weights, as in Keras)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll, self.seed = go_backwards, stateful, unroll, seed
        self.cell = self.cell_class(units, activation=activation, recurrent_activation=recurrent_activation,
                                    use_bias=use_bias, kernel_initializer=kernel_initializer,
                                    recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                                    kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                                    dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
                                    unit_forget_bias=unit_forget_bias, reset_after=reset_after,
                                    name=f"{self._cell_name()}", dtype=kwargs.get("dtype"))

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
        if self.stateful:
            if self.states is not None:
                self.reset_state()
            else:
                if sequences_shape[0] is None:
                    raise ValueError("When using `stateful=True` in a RNN, the batch size must be static. Found "
                                     f"dynamic batch size: sequence.shape={tuple(sequences_shape)}")
                like = torch.zeros(1, dtype=self.cell.kernel.dtype, device=self.cell.kernel.device)
                self.states = [make_variable(s, trainable=False, name="rnn_state")
                               for s in self.cell.initial_states(sequences_shape[0], like)]
        self.built = True

    def reset_state(self):
        """Zeroes the states a stateful layer carries from one batch to the next."""
        if self.states is not None:
            for state in self.states:
                state.assign(torch.zeros_like(state))

    reset_states = reset_state

    def compute_mask(self, inputs, previous_mask):
        mask = previous_mask[0] if isinstance(previous_mask, (list, tuple)) else previous_mask
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self.cell.state_count
        return output_mask

    def _first_states(self, sequences, initial_state):
        batch = sequences.shape[0]
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        elif self.stateful:
            states = [s.detach() for s in self.states]
        else:
            states = self.cell.initial_states(batch, sequences)
        if self.stateful and batch != self.states[0].shape[0]:
            raise ValueError("If an RNN is stateful, the batch size of the input sequences must be the same as the "
                             f"batch size of the initial state. \n- Expected batch size: {self.states[0].shape[0]}\n"
                             f"- Received batch size: {batch}")
        return states

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if sequences.ndim != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs of shape (batch, timesteps, "
                             f"features); got {tuple(sequences.shape)}")
        if not sequences.is_floating_point():
            sequences = sequences.to(self.cell.kernel.dtype)
        steps = sequences.shape[1]
        if steps == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': the input sequence has no time steps")
        states = self._first_states(sequences, initial_state)
        in_masks, rec_masks = self.cell.dropout_masks(sequences[:, 0], states[0], training)
        projected = self.cell.project_inputs(sequences, in_masks)
        if mask is not None:
            mask = mask.to(torch.bool).to(sequences.device)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        for t in order:
            output, new_states = self.cell.step(projected[:, t], states, rec_masks)
            if mask is not None:
                keep = mask[:, t].unsqueeze(-1)
                held = torch.zeros_like(output) if self.zero_output_for_mask else states[0]
                output = torch.where(keep, output, held)
                new_states = [torch.where(keep, new, old) for new, old in zip(new_states, states)]
            states = new_states
            outputs.append(output)
        if self.stateful:
            for variable, state in zip(self.states, states):
                variable.assign(state.detach())
        result = torch.stack(outputs, dim=1) if self.return_sequences else outputs[-1]
        if self.return_state:
            return [result] + list(states)
        return result

    def get_config(self):
        cell = self.cell
        config = {**super().get_config(), "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                  "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask, "units": self.units,
                  "activation": _activations.serialize(cell.activation), "use_bias": cell.use_bias,
                  "kernel_initializer": _initializers.serialize(cell.kernel_initializer),
                  "recurrent_initializer": _initializers.serialize(cell.recurrent_initializer),
                  "bias_initializer": _initializers.serialize(cell.bias_initializer),
                  "kernel_regularizer": _serialize_or_none(_regularizers, cell.kernel_regularizer),
                  "recurrent_regularizer": _serialize_or_none(_regularizers, cell.recurrent_regularizer),
                  "bias_regularizer": _serialize_or_none(_regularizers, cell.bias_regularizer),
                  "activity_regularizer": None,
                  "kernel_constraint": _serialize_or_none(_constraints, cell.kernel_constraint),
                  "recurrent_constraint": _serialize_or_none(_constraints, cell.recurrent_constraint),
                  "bias_constraint": _serialize_or_none(_constraints, cell.bias_constraint),
                  "dropout": cell.dropout, "recurrent_dropout": cell.recurrent_dropout, "seed": self.seed}
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
    supports_masking = True

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
        for directed in (self.forward_layer, self.backward_layer):
            directed.zero_output_for_mask = directed.return_sequences  # as Keras forces it
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

    def reset_state(self):
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def compute_mask(self, inputs, previous_mask):
        mask = previous_mask[0] if isinstance(previous_mask, (list, tuple)) else previous_mask
        if not self.return_sequences:
            output_mask = None if self.merge_mode else [None, None]
        else:
            output_mask = mask if self.merge_mode else [mask, mask]
        if self.return_state:
            states = [None] * (2 * self.forward_layer.cell.state_count)
            return (output_mask if isinstance(output_mask, list) else [output_mask]) + states
        return output_mask

    def call(self, sequences, initial_state=None, mask=None, training=False):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        forward = self.forward_layer(sequences, initial_state=forward_state, mask=mask)
        backward = self.backward_layer(sequences, initial_state=backward_state, mask=mask)
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
