"""`keras.models`: Model, Sequential, load_model, clone_model."""
from ._model import Functional, Model, Sequential
from ..saving import load_model, save_model


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with the same layers' configs and fresh weights (Sequential or functional)."""
    if input_tensors is not None or clone_function is not None or call_function is not None:
        raise NotImplementedError("clone_model: input_tensors/clone_function/call_function are not supported")
    from ..saving import deserialize_keras_object, serialize_keras_object
    return deserialize_keras_object(serialize_keras_object(model))


def model_from_json(json_string, custom_objects=None):
    import json
    from ..saving import deserialize_keras_object
    return deserialize_keras_object(json.loads(json_string), custom_objects)


__all__ = ["Model", "Sequential", "Functional", "load_model", "save_model", "clone_model", "model_from_json"]
