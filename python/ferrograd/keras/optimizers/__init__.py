"""`keras.optimizers`: Keras 3's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), their
learning-rate `schedules`, and `get`/`serialize`/`deserialize`."""
from . import schedules
from ._algorithms import SGD, Adagrad, Adam, AdamW, RMSprop
from ._optimizer import Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "schedules", "get", "serialize",
           "deserialize"]

_BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}


def serialize(optimizer):
    """The optimizer as Keras serializes it (module, class_name, config, registered_name)."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__, "config": optimizer.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from `serialize`'s dict (class names are case-insensitive, as in Keras)."""
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    return cls.from_config(config.get("config", {}), custom_objects) if issubclass(cls, Optimizer) \
        else cls(**config.get("config", {}))


def get(identifier):
    """An optimizer from a name ('adam'), a `serialize` dict, or an instance (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
