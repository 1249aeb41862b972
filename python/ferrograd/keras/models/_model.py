"""`keras.Model` (subclassing with `call`), the functional model (`keras.Model(inputs, outputs)`)
and `keras.Sequential`."""
import numpy as np

import ferrograd as torch

from ..layers._base import (InputLayer, KerasTensor, Layer, _DTYPES, _shape_from_config, container_names, flatten,
                            map_structure, pack_like)
from ..layers import _base
from ._summary import print_summary
from ._trainer import Trainer


class Model(Trainer, Layer):
    """A layer with `compile`/`fit`/`evaluate`/`predict`. `keras.Model(inputs, outputs)` makes a
    functional model; subclasses define `call`."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs):
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *, trainable=True, name=None, dtype=None, **kwargs):
        Layer.__init__(self, trainable=trainable, name=name, dtype=dtype, **kwargs)
        Trainer.__init__(self)

    @property
    def layers(self):
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def _saveable_children(self):
        if isinstance(self, (Functional, Sequential)):
            layers = self._layers if isinstance(self, Functional) else self.layers
            return [(f"layers/{name}", layer) for name, layer in zip(container_names(layers), layers)]
        return Layer._saveable_children(self)

    def get_layer(self, name=None, index=None):
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has "
                                 f"{len(self.layers)} layers.")
            return self.layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[l.name for l in self._layers]}.")

    def build(self, input_shape=None):
        """Builds a subclassed model by calling it on zeros of `input_shape` (unknown dims: 1)."""
        if self.built:
            return
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument.")
        shapes = _shape_from_config(input_shape)

        def zeros(shape):
            return torch.zeros(*[1 if d is None else d for d in shape])
        if isinstance(shapes, dict):
            dummy = {k: zeros(v) for k, v in shapes.items()}
        elif shapes and isinstance(shapes[0], (list, tuple)):
            dummy = [zeros(v) for v in shapes]
        else:
            dummy = zeros(shapes)
        with torch.no_grad():
            self(dummy, training=False)
        self._build_shape = input_shape
        self.built = True

    def __call__(self, *args, **kwargs):
        if not self.built and args and not _base._is_symbolic(args, kwargs):
            self.built = True  # a subclassed model builds its layers by running call
        return Layer.__call__(self, *args, **kwargs)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" in config and "input_layers" in config:
            return Functional.from_config(config, custom_objects)
        return cls(**config)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        from ..saving import save_model
        save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        from ..saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        from ..saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs):
        import json
        from ..saving import serialize_keras_object
        return json.dumps(serialize_keras_object(self), **kwargs)


class Functional(Model):
    """A model defined by a graph of layer calls from `keras.Input`s to outputs."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Layer.__init__(self, trainable=trainable, name=name or _base.unique_name("functional"), **kwargs)
        Trainer.__init__(self)
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs):
        if isinstance(inputs, dict):
            self._input_names = list(inputs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._input_tensors = flatten(inputs)
        self._output_tensors = flatten(outputs)
        for t in self._input_tensors + self._output_tensors:
            if not isinstance(t, KerasTensor):
                raise ValueError(f"All `inputs` and `outputs` values must be KerasTensors. Received: {t!r}")
        for t in self._input_tensors:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"The `inputs` of a functional Model must come from `keras.Input`; got {t!r}")
        self._nodes = self._topological_nodes()
        layers = _keras_layer_order(self._input_tensors, self._output_tensors)
        self._layers = []
        for layer in layers:
            self._track_layer(layer)
        self.built = True
        self._build_shape = [t.shape for t in self._input_tensors]
        if len(self._build_shape) == 1:
            self._build_shape = self._build_shape[0]
        self._input_dtypes = [_DTYPES[t.dtype] for t in self._input_tensors]

    def _topological_nodes(self):
        """Nodes from the inputs to the outputs, each after the nodes it reads."""
        order, state = [], {}

        def visit(node):
            if state.get(id(node)) == "done":
                return
            if state.get(id(node)) == "visiting":
                raise ValueError("the functional graph has a cycle")
            state[id(node)] = "visiting"
            for parent in node.parent_nodes:
                visit(parent)
            state[id(node)] = "done"
            order.append(node)

        for t in self._input_tensors:
            layer, index, _ = t._keras_history
            visit(layer._inbound_nodes[index])
        for t in self._output_tensors:
            layer, index, _ = t._keras_history
            visit(layer._inbound_nodes[index])
        reachable = {id(t._keras_history[0]._inbound_nodes[t._keras_history[1]]) for t in self._input_tensors}
        for node in order:
            if isinstance(node.layer, InputLayer) and id(node) not in reachable:
                raise ValueError(f"Graph disconnected: the output depends on input '{node.layer.name}', "
                                 f"which is not among the model's inputs")
        return order

    @property
    def layers(self):
        return list(self._layers)   # Keras lists a functional model's InputLayers too

    @property
    def inputs(self):
        return self._input_tensors

    @property
    def outputs(self):
        return self._output_tensors

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._input_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    def _flatten_inputs(self, inputs):
        if isinstance(inputs, dict):
            names = [t._keras_history[0].name for t in self._input_tensors]
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f"Missing data for input {missing[0]!r}. You passed a data dictionary with keys "
                                 f"{list(inputs)}. Expected the following keys: {names}")
            return [inputs[n] for n in names]
        flat = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self._input_tensors):
            raise ValueError(f"Model '{self.name}' expects {len(self._input_tensors)} input(s), but it received "
                             f"{len(flat)} input tensors.")
        return flat

    def call(self, inputs, training=None, mask=None):
        values = {}
        device = torch.get_default_device()
        for t, x, dtype in zip(self._input_tensors, self._flatten_inputs(inputs), self._input_dtypes):
            if not isinstance(x, torch.Tensor):
                x = _base.to_tensor(x, device=device)
            if x.dtype != dtype and (dtype.is_floating_point or not x.is_floating_point()):
                x = x.to(dtype)
            expected = t.shape
            if len(expected) != x.ndim or any(e is not None and e != d for e, d in zip(expected, x.shape)):
                raise ValueError(f"Input {t._keras_history[0].name!r} of model '{self.name}' is incompatible: "
                                 f"expected shape={expected}, found shape={tuple(x.shape)}")
            values[id(t)] = x
        lookup = lambda v: values[id(v)] if isinstance(v, KerasTensor) else v  # noqa: E731
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = map_structure(lookup, node.args)
            kwargs = {k: map_structure(lookup, v) for k, v in node.kwargs.items()}
            kwargs.pop("training", None)
            outputs = node.layer(*args, **kwargs)
            for t, value in zip(node.output_tensors, flatten(outputs)):
                values[id(t)] = value
        return pack_like(self._outputs_struct, [values[id(t)] for t in self._output_tensors])

    @property
    def output_names(self):
        return [t._keras_history[0].name for t in self._output_tensors]

    def get_config(self):
        from ..saving import serialize_keras_object

        def history(t):
            layer, node_index, tensor_index = t._keras_history
            return [layer.name, node_index, tensor_index]

        def arg_config(v):
            if isinstance(v, KerasTensor):
                return {"class_name": "__keras_tensor__",
                        "config": {"shape": list(v.shape), "dtype": v.dtype, "keras_history": history(v)}}
            return v

        layer_configs = []
        for layer in self._layers:
            cfg = serialize_keras_object(layer)
            cfg["name"] = layer.name
            nodes = [n for n in layer._inbound_nodes if any(n is m for m in self._nodes)]
            cfg["inbound_nodes"] = [] if isinstance(layer, InputLayer) else [
                {"args": map_structure(arg_config, n.args),
                 "kwargs": {k: map_structure(arg_config, v) for k, v in n.kwargs.items() if k != "training"}}
                for n in nodes]
            layer_configs.append(cfg)

        def io_config(struct):
            if isinstance(struct, KerasTensor):
                return history(struct)
            if isinstance(struct, dict):
                return {k: history(v) for k, v in struct.items()}
            return [history(t) for t in flatten(struct)]

        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": io_config(self._inputs_struct), "output_layers": io_config(self._outputs_struct)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import deserialize_keras_object
        created = {}
        pending = []
        for layer_cfg in config["layers"]:
            layer = deserialize_keras_object(layer_cfg, custom_objects)
            created[layer_cfg["name"]] = layer
            pending.append((layer, layer_cfg.get("inbound_nodes", [])))
        # Call each layer on its inbound tensors, in the saved order, retrying a node whose inputs
        # are not made yet (a layer listed before the one it reads from).
        progress = True
        node_counts = {}
        while pending and progress:
            progress = False
            rest = []
            for layer, nodes in pending:
                done = node_counts.get(layer.name, 0)
                ok = True
                for node_cfg in nodes[done:]:
                    try:
                        args = _restore_args(node_cfg["args"], created)
                        kwargs = {k: _restore_args(v, created) for k, v in node_cfg.get("kwargs", {}).items()}
                    except _NotReady:
                        ok = False
                        break
                    layer(*args, **kwargs)
                    done += 1
                    node_counts[layer.name] = done
                    progress = True
                if not ok:
                    rest.append((layer, nodes))
            pending = rest
        if pending:
            raise ValueError(f"cannot rebuild the functional model: layers {[l.name for l, _ in pending]} "
                             "read tensors that no layer makes")

        def tensor_of(ref):
            name, node_index, tensor_index = ref
            return flatten(created[name]._inbound_nodes[node_index].outputs)[tensor_index]

        def io(spec):
            if isinstance(spec, dict):
                return {k: tensor_of(v) for k, v in spec.items()}
            if len(spec) == 3 and isinstance(spec[0], str):
                return tensor_of(spec)
            return [tensor_of(s) for s in spec]
        return Functional(io(config["input_layers"]), io(config["output_layers"]), name=config.get("name"),
                          trainable=config.get("trainable", True))


def _keras_layer_order(inputs, outputs):
    """The layers in Keras's order (its `map_graph`): by depth from the outputs, deepest first,
    ties broken by when a depth-first walk from the outputs first meets them. Keras names the
    layers in weight files by this order, so it must match for files to load either way."""
    finished, order_nodes, first_seen = set(), [], {}

    def walk(tensor):
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in finished:
            return
        first_seen.setdefault(id(layer), (len(first_seen), layer))
        for t in node.input_tensors:
            walk(t)
        finished.add(id(node))
        order_nodes.append(node)

    for t in outputs:
        walk(t)
    in_graph = {id(n) for n in order_nodes}
    node_depth, layer_depth = {}, {}
    for node in reversed(order_nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in inputs:
        layer = t._keras_history[0]
        if id(layer) not in layer_depth:
            layer_depth[id(layer)] = 0
            first_seen[id(layer)] = (-1, layer)
    ranked = sorted(first_seen.values(), key=lambda item: (-layer_depth[id(item[1])], item[0]))
    return [layer for _, layer in ranked]


class _NotReady(Exception):
    pass


def _restore_args(value, created):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = value["config"]["keras_history"]
        layer = created.get(name)
        if layer is None or len(layer._inbound_nodes) <= node_index:
            raise _NotReady
        return flatten(layer._inbound_nodes[node_index].outputs)[tensor_index]
    if isinstance(value, list):
        return [_restore_args(v, created) for v in value]
    if isinstance(value, dict):
        return {k: _restore_args(v, created) for k, v in value.items()}
    return value


class Sequential(Model):
    """A plain stack of layers: each layer's output is the next one's input."""

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, trainable=trainable, name=name)
        Trainer.__init__(self)
        object.__setattr__(self, "_input_layer", None)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_build_graph()

    def add(self, layer, rebuild=True):
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise ValueError(f"Only instances of `keras.Layer` can be added to a Sequential model. Received: {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Sequential model: an InputLayer may only be the first layer")
            object.__setattr__(self, "_input_layer", layer)
        elif not self._layers and layer._input_batch_shape is not None and self._input_layer is None:
            object.__setattr__(self, "_input_layer", InputLayer(batch_shape=layer._input_batch_shape))
            self._track_layer(self._input_layer)
        if any(layer is l for l in self._layers):
            raise ValueError(f"The layer '{layer.name}' is already in this Sequential model")
        self._track_layer(layer)
        self.built = False
        if rebuild:
            self._maybe_build_graph()

    def pop(self, rebuild=True):
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        self.built = False
        if rebuild:
            self._maybe_build_graph()
        return layer

    def _maybe_build_graph(self):
        if self._input_layer is not None:
            self.build(self._input_layer.batch_shape)

    def build(self, input_shape=None):
        if input_shape is None:
            raise ValueError("You must provide an `input_shape` argument.")
        input_shape = tuple(input_shape)
        if self._input_layer is None or self._input_layer.batch_shape != input_shape:
            if self._input_layer is not None:
                self._layers.remove(self._input_layer)
            object.__setattr__(self, "_input_layer", InputLayer(batch_shape=input_shape))
            self._layers.insert(0, self._input_layer)
        x = self._input_layer.output_tensor
        for layer in self.layers:
            x = layer(x)
        self._symbolic_outputs = x
        self._build_shape = input_shape
        self.built = True

    def call(self, inputs, training=None, mask=None):
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    def __call__(self, *args, **kwargs):
        if not self.built and args and not _base._is_symbolic(args, kwargs):
            x = args[0]
            shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
            self.build((None,) + tuple(shape[1:]))
        return Layer.__call__(self, *args, **kwargs)

    @property
    def inputs(self):
        return [self._input_layer.output_tensor] if self._input_layer is not None else None

    @property
    def outputs(self):
        return [self._symbolic_outputs] if self.built else None

    @property
    def input_shape(self):
        return self._input_layer.batch_shape if self._input_layer is not None else None

    @property
    def output_shape(self):
        return self._symbolic_outputs.shape if self.built else None

    @property
    def output_names(self):
        return [self.layers[-1].name] if self.layers else []

    def get_config(self):
        from ..saving import serialize_keras_object
        layers = [serialize_keras_object(layer) for layer in self._layers]
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": self.dtype},
                            "registered_name": None},
                  "layers": layers}
        if self._build_shape is not None:
            config["build_input_shape"] = list(self._build_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import deserialize_keras_object
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_cfg in config["layers"]:
            model.add(deserialize_keras_object(layer_cfg, custom_objects), rebuild=False)
        if model._input_layer is not None:
            model._maybe_build_graph()
        elif config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        return model
