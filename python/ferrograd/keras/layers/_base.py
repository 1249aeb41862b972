"""The Keras `Layer` on ferrograd tensors, symbolic `KerasTensor`s for the functional API, and
`Input`/`InputLayer`.

A layer owns ferrograd Parameters in Keras's layouts, builds them from the first input shape,
and runs `call` on ferrograd tensors (so autograd, devices and the fused kernels come from the
core). Calling a layer on KerasTensors records a `Node` and infers the output shape by running
the layer on small zero tensors (twice, with unknown dimensions of 1 and 2, so a dimension that
follows an unknown one stays unknown).
"""
import inspect
import math
import warnings

import numpy as np

import ferrograd as torch

from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._common import (_MASKS, assign, call_context, get_keras_mask, make_variable, set_keras_mask,
                       to_numpy, to_snake_case, to_tensor, unique_name)

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int64,
           "bool": torch.bool}


def dtype_name(dtype):
    """Keras's dtype string for a dtype given as a string, a DTypePolicy config or a ferrograd dtype."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).replace("torch.", "")
    if isinstance(dtype, type) or isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype).name
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}: ferrograd.keras supports {', '.join(_DTYPES)}")
    return dtype


def map_structure(fn, structure):
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [leaf for s in structure for leaf in flatten(s)]
    if isinstance(structure, dict):
        return [leaf for k in structure for leaf in flatten(structure[k])]
    return [structure]


def pack_like(structure, flat):
    """`flat` (a list) in the nesting of `structure`."""
    it = iter(flat)
    return map_structure(lambda _: next(it), structure)


class KerasTensor:
    """A symbolic tensor: shape (None for unknown dimensions) and dtype, and the layer call that
    made it (`_keras_history`: layer, node index, tensor index)."""

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype_name(dtype)
        self.name = name or unique_name("keras_tensor")
        self._keras_history = history

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, ragged=False, "
                f"name={self.name}>")

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic: it has no values. Call the model on data instead.")

    def _no_ops(self, *args):
        raise TypeError(f"operators on symbolic KerasTensors are not supported by ferrograd.keras ({self!r}): "
                        "use layers (keras.layers.Add, Multiply, Lambda-free layers) in the functional API")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __matmul__ = __getitem__ = _no_ops


class Node:
    """One call of a layer on symbolic tensors: the call's arguments and its outputs."""

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args, self.kwargs = args, kwargs
        self.outputs = outputs
        self.input_tensors = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        self.output_tensors = flatten(outputs)

    @property
    def parent_nodes(self):
        parents = []
        for t in self.input_tensors:
            layer, node_index, _ = t._keras_history
            parents.append(layer._inbound_nodes[node_index])
        return parents


def _has_keras_tensor(value):
    if isinstance(value, KerasTensor):
        return True
    if isinstance(value, (list, tuple, dict)):
        return any(isinstance(t, KerasTensor) for t in flatten(value))
    return False


def _is_symbolic(args, kwargs):
    # runs on every layer call: plain tensors are ruled out without building lists
    return any(_has_keras_tensor(a) for a in args) or any(_has_keras_tensor(v) for v in kwargs.values())


def _dummy(kt, unknown):
    shape = [unknown if d is None else d for d in kt.shape]
    return torch.zeros(*shape, dtype=_DTYPES[kt.dtype])


def _shape_of(x):
    if isinstance(x, (KerasTensor, torch.Tensor)):
        return tuple(x.shape)
    return tuple(np.shape(x))


def _call_takes(cls, name):
    sig = inspect.signature(cls.call)
    return name in sig.parameters or any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


_ALLOWED_LAYER_KWARGS = {"input_dim", "input_shape", "batch_input_shape", "batch_size", "weights", "autocast"}
_LAYER_KWARGS = _ALLOWED_LAYER_KWARGS | {"activity_regularizer", "trainable", "dtype", "name"}


class Layer:
    """Base class of all Keras layers (and of `Model`)."""

    # Whether the layer passes masks on (Keras's rule: layers that define compute_mask do).
    supports_masking = False

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True, name=None,
                 **kwargs):
        unknown = set(kwargs) - _ALLOWED_LAYER_KWARGS
        if unknown:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                             f"{ {k: kwargs[k] for k in sorted(unknown)} }")
        object.__setattr__(self, "_layers", [])
        self._trainable_variables = []
        self._non_trainable_variables = []
        self._regularized = []
        self._call_losses = []
        self._inbound_nodes = []
        self._trainable = bool(trainable)
        self.built = False
        self._build_shape = None
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = dtype_name(dtype)
        self._compute_dtype = _DTYPES[self.dtype]
        self.autocast = autocast
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        input_shape = kwargs.get("input_shape")
        if input_shape is None and kwargs.get("input_dim") is not None:
            input_shape = (kwargs["input_dim"],)
        if kwargs.get("batch_input_shape") is not None:
            self._input_batch_shape = tuple(kwargs["batch_input_shape"])
        elif input_shape is not None:
            self._input_batch_shape = (kwargs.get("batch_size"),) + tuple(input_shape)
        else:
            self._input_batch_shape = None
        cls = type(self)
        if "_call_flags" not in cls.__dict__:
            cls._call_flags = (_call_takes(cls, "training"), _call_takes(cls, "mask"),
                               "mask" in inspect.signature(cls.call).parameters)
        if "supports_masking" not in self.__dict__ and cls.compute_mask is not Layer.compute_mask:
            self.supports_masking = True
        self._initial_weights = kwargs.get("weights")

    # ------------------------------------------------------------------ tracking
    def __setattr__(self, name, value):
        if isinstance(value, Layer):
            self._track_layer(value, name)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            for v in value:
                self._track_layer(v, name, in_list=True)
        object.__setattr__(self, name, value)

    def _track_layer(self, layer, attribute=None, in_list=False):
        layers = self.__dict__.get("_layers")
        if layers is None:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning layers")
        if not any(layer is l for l in layers):
            layers.append(layer)
            self.__dict__.setdefault("_child_paths", {})[id(layer)] = (attribute, in_list)

    def _saveable_children(self):
        """(path, layer) of the layers inside this one, as Keras's weight files name them: the
        attribute a layer is stored in, or `attribute/<class name>[_i]` for a list of layers."""
        paths = self.__dict__.get("_child_paths", {})
        children, lists = [], {}
        for layer in self._layers:
            attribute, in_list = paths.get(id(layer), ("layers", True))
            if in_list:
                lists.setdefault(attribute, []).append(layer)
            else:
                children.append((attribute, layer))
        for attribute, layers in lists.items():
            children += [(f"{attribute}/{name}", layer) for name, layer in zip(container_names(layers), layers)]
        return children

    @property
    def dtype_policy(self):
        return self.dtype

    @property
    def compute_dtype(self):
        return self.dtype

    @property
    def variable_dtype(self):
        return self.dtype

    def _torch_dtype(self):
        return _DTYPES[self.dtype]

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient=False,
                   name=None):
        shape = tuple(shape or ())
        dtype = dtype_name(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if _DTYPES[dtype].is_floating_point else "zeros"
        init = _initializers.get(initializer)
        if any(d is None for d in shape):
            raise ValueError(f"layer '{self.name}': cannot create weight '{name}' of unknown shape {shape}")
        value = init(shape, dtype=dtype)
        if not isinstance(value, torch.Tensor):
            value = to_tensor(value, dtype=_DTYPES[dtype], device="cpu")
        value = value.to(torch.get_default_device())
        var = make_variable(value.detach(), trainable=trainable and _DTYPES[dtype].is_floating_point, name=name)
        var.constraint = _constraints.get(constraint)
        var.requires_grad_(var.trainable and self.trainable)
        var._path = f"{self.name}/{name}"
        (self._trainable_variables if trainable else self._non_trainable_variables).append(var)
        reg = _regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((reg, var))
        return var

    def _walk(self):
        """This layer and all layers inside it, depth first, each once."""
        seen, out = set(), []

        def visit(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            out.append(layer)
            for sub in layer._layers:
                visit(sub)
        visit(self)
        return out

    @staticmethod
    def _unique(variables):
        seen, out = set(), []
        for v in variables:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    @property
    def weights(self):
        own = self._trainable_variables + self._non_trainable_variables
        return self._unique(own + [w for layer in self._layers for w in layer.weights])

    variables = weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._unique(self._trainable_variables + [w for l in self._layers for w in l.trainable_weights])

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._unique(self._non_trainable_variables
                            + [w for l in self._layers for w in l.non_trainable_weights])

    non_trainable_variables = non_trainable_weights

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        for layer in self._walk():
            layer._trainable = value
            for var in layer._trainable_variables:
                var.requires_grad_(value)

    def get_weights(self):
        return [to_numpy(w).copy() for w in self.weights]

    def set_weights(self, weights):
        layer_weights = self.weights
        if len(weights) != len(layer_weights):
            raise ValueError(f"You called `set_weights(weights)` on layer '{self.name}' with a weight list of length "
                             f"{len(weights)}, but the layer was expecting {len(layer_weights)} weights.")
        for var, value in zip(layer_weights, weights):
            value = np.asarray(value)
            if tuple(var.shape) != value.shape:
                raise ValueError(f"Layer {self.name} weight shape {tuple(var.shape)} is not compatible with provided "
                                 f"weight shape {value.shape}.")
        for var, value in zip(layer_weights, weights):
            assign(var, value)

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                             "You can build it manually via: `layer.build(input_shape)`.")
        return int(sum(math.prod(w.shape) for w in self.weights))

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss):
        self._call_losses.append(loss)

    @property
    def losses(self):
        out = []
        for layer in self._walk():
            out.extend(layer._call_losses)
            out.extend(reg(var) for reg, var in layer._regularized)
        return out

    def _regularization_terms(self):
        return [(reg, var) for layer in self._walk() for reg, var in layer._regularized]

    # ------------------------------------------------------------------ building and calling
    def build(self, input_shape=None):
        self.built = True

    def _build_from_call(self, args, kwargs):
        """Build from the shapes of the first call's arguments (the first positional one)."""
        first = args[0] if args else next(iter(kwargs.values()))
        self._build_shape = map_structure(_shape_of, first) if isinstance(first, (list, tuple, dict)) else _shape_of(first)
        self.build(self._build_shape)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _convert_inputs(self, x):
        if isinstance(x, torch.Tensor) or x is None:
            return x
        if isinstance(x, (list, tuple)):
            return type(x)(self._convert_inputs(v) for v in x)
        if isinstance(x, dict):
            return {k: self._convert_inputs(v) for k, v in x.items()}
        if isinstance(x, (np.ndarray, np.generic, float, int)):
            return to_tensor(x, device=torch.get_default_device())
        return x

    def __call__(self, *args, **kwargs):
        if _is_symbolic(args, kwargs):
            return self._symbolic_call(args, kwargs)
        if args and not isinstance(args[0], torch.Tensor):
            args = (self._convert_inputs(args[0]),) + args[1:]
        first = args[0] if args else None
        if (self.autocast and isinstance(first, torch.Tensor) and first.dtype is not self._compute_dtype
                and first.is_floating_point()):
            args = (first.to(self._compute_dtype),) + args[1:]   # Keras casts float inputs to the layer's dtype
        if not self.built:
            self._build_from_call(args, kwargs)
        if self._call_losses:
            self._call_losses = []
        takes_training = self._call_flags[0]
        training = kwargs.get("training")
        if takes_training:
            if training is None:
                training = call_context.training
                if training is not None:
                    kwargs["training"] = training
        elif "training" in kwargs:
            kwargs.pop("training")
        previous_mask = kwargs.get("mask")
        if previous_mask is None:
            kwargs.pop("mask", None)
            if _MASKS:
                # Keras passes the mask attached to the input on to a `call` that takes one.
                previous_mask = map_structure(get_keras_mask, first)
                if self._call_flags[2] and any(m is not None for m in flatten(previous_mask)):
                    kwargs["mask"] = previous_mask
        if training is not None and call_context.training is not training:
            previous = call_context.training
            call_context.training = training
            try:
                outputs = self.call(*args, **kwargs)
            finally:
                call_context.training = previous
        else:
            outputs = self.call(*args, **kwargs)
        if self.activity_regularizer is not None:
            for out in flatten(outputs):
                self.add_loss(self.activity_regularizer(out) / out.shape[0])
        if self.supports_masking:
            self._set_mask_metadata(first, outputs, previous_mask)
        elif previous_mask is not None and any(m is not None for m in flatten(previous_mask)):
            warnings.warn(f"Layer '{self.name}' (of type {type(self).__name__}) was passed an input with a mask "
                          "attached to it. However, this layer does not support masking and will therefore destroy "
                          "the mask information. Downstream layers will not see the mask.", stacklevel=2)
        return outputs

    def call(self, inputs, *args, **kwargs):
        return inputs

    def compute_mask(self, inputs, previous_mask):
        """The mask of the outputs (Keras's default: the input's)."""
        return previous_mask

    def _set_mask_metadata(self, inputs, outputs, previous_mask):
        if previous_mask is None and type(self).compute_mask is Layer.compute_mask:
            return
        flat_outputs = flatten(outputs)
        if all(get_keras_mask(x) is not None for x in flat_outputs):
            return
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        for tensor, mask in zip(flat_outputs, flatten(masks)):
            if isinstance(tensor, torch.Tensor) and mask is not None and get_keras_mask(tensor) is None:
                set_keras_mask(tensor, mask)

    def _symbolic_call(self, args, kwargs):
        symbolic = [t for t in flatten((list(args), kwargs)) if isinstance(t, KerasTensor)]
        if not self.built:
            self._build_from_call(args, kwargs)
        results = []
        with torch.no_grad():
            for unknown in (1, 2):
                dummies = {id(t): _dummy(t, unknown) for t in symbolic}
                sub = lambda v: dummies[id(v)] if isinstance(v, KerasTensor) else v  # noqa: E731
                call_args = map_structure(sub, list(args))
                call_kwargs = {k: map_structure(sub, v) for k, v in kwargs.items()}
                call_kwargs["training"] = False
                results.append(self(*call_args, **call_kwargs))
        node_index = len(self._inbound_nodes)
        flat_1, flat_2 = flatten(results[0]), flatten(results[1])
        outputs_flat = []
        for i, (a, b) in enumerate(zip(flat_1, flat_2)):
            shape = tuple(None if da != db else da for da, db in zip(a.shape, b.shape))
            outputs_flat.append(KerasTensor(shape, dtype_name(a.dtype), history=(self, node_index, i)))
        outputs = pack_like(results[0], outputs_flat)
        self._inbound_nodes.append(Node(self, list(args), dict(kwargs), outputs))
        return outputs

    def compute_output_shape(self, input_shape):
        out = self(KerasTensor(input_shape if input_shape[0] is None else (None,) + tuple(input_shape[1:])))
        return map_structure(lambda t: t.shape, out)

    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined input.")
        return pack_like(self._inbound_nodes[0].args[0], flatten(self._inbound_nodes[0].args[0]))

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined output.")
        return self._inbound_nodes[0].outputs

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self.output)

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": self.dtype},
                          "registered_name": None}}

    @classmethod
    def from_config(cls, config):
        from .._common import config_kwargs
        return cls(**config_kwargs(cls, config, extra=_LAYER_KWARGS))

    def get_build_config(self):
        if self._build_shape is not None:
            return {"input_shape": self._build_shape}
        return None

    def build_from_config(self, config):
        if config and config.get("input_shape") is not None and not self.built:
            self.build(_shape_from_config(config["input_shape"]))
            self.built = True

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def container_names(layers):
    """Keras's names for the layers of a list in a weights file: `dense`, `dense_1`, ... by class."""
    counts, names = {}, []
    for layer in layers:
        base = to_snake_case(type(layer).__name__)
        count = counts.get(base, 0)
        counts[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count}")
    return names


def _shape_from_config(shape):
    if isinstance(shape, dict):
        return {k: _shape_from_config(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple, dict)):
        return [_shape_from_config(s) for s in shape]
    return tuple(shape)


class InputLayer(Layer):
    """The layer behind `keras.Input`: holds the input's shape and dtype."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, input_tensor=None,
                 optional=False, name=None, ragged=None, **kwargs):
        if "input_shape" in kwargs:   # Keras 3 still takes the old name (with a warning)
            shape = kwargs.pop("input_shape")
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {list(kwargs)}")
        super().__init__(name=name, dtype=dtype)
        if sparse or ragged:
            raise NotImplementedError("ferrograd.keras.Input: sparse and ragged inputs are not supported")
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument.")
            batch_shape = (batch_size,) + tuple(shape)
        self.batch_shape = tuple(batch_shape)
        self.optional = optional
        self.built = True
        self.output_tensor = input_tensor or KerasTensor(self.batch_shape, self.dtype, name=self.name,
                                                         history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], {}, self.output_tensor))

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": self.optional}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):
    """`keras.Input`: a symbolic input for the functional API."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                       name=name, input_tensor=tensor, optional=optional)
    return layer.output_tensor
