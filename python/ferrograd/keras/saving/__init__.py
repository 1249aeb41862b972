"""Keras 3's file formats through h5py: the `.keras` zip (`metadata.json`, `config.json`,
`model.weights.h5`) and `.weights.h5` files, in Keras's layout (`layers/<name>/vars/<i>`), so
files move between Keras 3 and ferrograd for the layers both have. Files are written to a
temporary file beside the target and renamed into place; a file that cannot be read raises a
ValueError naming its path."""
import datetime
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .._common import assign, to_numpy

KERAS_VERSION = "3.15.1"
_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is in the keras extra
        raise ImportError("saving Keras files needs h5py: pip install 'ferrograd[keras]'") from e
    return h5py


# ---------------------------------------------------------------- (de)serialization of objects

def _registry():
    from .. import layers, models
    classes = {name: getattr(layers, name) for name in layers.__all__}
    classes.update(Sequential=models.Sequential, Functional=models.Functional, Model=models.Functional)
    return classes


def serialize_keras_object(obj):
    """Keras's `{"module", "class_name", "config", "registered_name", ...}` dict for a layer,
    model or optimizer."""
    from ..layers._base import Layer
    from ..models import Functional, Sequential
    config = obj.get_config()
    if isinstance(obj, Functional):
        out = {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
               "registered_name": "Functional", "build_config": {"input_shape": None}}
    elif isinstance(obj, Sequential):
        out = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
        if obj._build_shape is not None:
            out["build_config"] = {"input_shape": list(obj._build_shape)}
    elif isinstance(obj, Layer):
        out = {"module": "keras.layers", "class_name": type(obj).__name__, "config": config,
               "registered_name": None if type(obj).__name__ in _registry() else type(obj).__name__}
        build = obj.get_build_config() if obj.built else None
        if build is not None:
            out["build_config"] = _jsonable(build)
    else:
        out = {"module": "keras.optimizers", "class_name": type(obj).__name__, "config": _jsonable(config),
               "registered_name": None}
    return out


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def deserialize_keras_object(config, custom_objects=None):
    class_name = config["class_name"]
    custom_objects = custom_objects or {}
    cls = custom_objects.get(class_name) or custom_objects.get(config.get("registered_name") or "") \
        or _registry().get(class_name)
    if cls is None:
        raise ValueError(f"Could not locate class '{class_name}'. Make sure custom classes are decorated with "
                         "`@keras.saving.register_keras_serializable()` or passed in `custom_objects`. "
                         f"Full object config: {config}")
    inner = dict(config.get("config", {}))
    from ..models import Model
    if isinstance(cls, type) and issubclass(cls, Model) and "layers" in inner:
        obj = cls.from_config(inner, custom_objects)
    else:
        obj = cls.from_config(inner)
    build_config = config.get("build_config")
    if build_config and not obj.built and hasattr(obj, "build_from_config"):
        obj.build_from_config(build_config)
    return obj


def register_keras_serializable(package="Custom", name=None):
    """Keeps classes findable by name when loading (pass them in `custom_objects` too)."""
    def decorator(cls):
        _CUSTOM[name or cls.__name__] = cls
        _CUSTOM[f"{package}>{name or cls.__name__}"] = cls
        return cls
    return decorator


_CUSTOM = {}


# ---------------------------------------------------------------- weights in h5

def _save_state(layer, group):
    own = group.create_group("vars")
    own.attrs["name"] = layer.name
    for i, var in enumerate(layer._trainable_variables + layer._non_trainable_variables):
        own.create_dataset(str(i), data=to_numpy(var))
    for path, child in layer._saveable_children():
        _save_state(child, group.require_group(path))


def _load_state(layer, group, path, skip_mismatch, file_path):
    own = layer._trainable_variables + layer._non_trainable_variables
    stored = group.get("vars") if group is not None else None
    if own:
        count = len(stored) if stored is not None else 0
        if count != len(own):
            if skip_mismatch:
                return
            raise ValueError(f"{file_path}: layer '{layer.name}' (at '{path}') expected {len(own)} variables, but "
                             f"received {count} variables during loading. Expected: {[v.name for v in own]}")
        for i, var in enumerate(own):
            value = np.asarray(stored[str(i)])
            if tuple(value.shape) != tuple(var.shape):
                if skip_mismatch:
                    continue
                raise ValueError(f"{file_path}: the shape of the weight {i} ('{var.name}') of layer '{layer.name}' is "
                                 f"{tuple(var.shape)} but the file has {value.shape} (at '{path}/vars/{i}')")
            assign(var, value)
    for child_path, child in layer._saveable_children():
        sub = group.get(child_path) if group is not None else None
        _load_state(child, sub, f"{path}/{child_path}", skip_mismatch, file_path)


def _write_weights(model, h5file):
    _save_state(model, h5file)
    optimizer = getattr(model, "optimizer", None)
    variables = list(getattr(optimizer, "variables", []) or []) if optimizer is not None else []
    if variables:
        group = h5file.create_group("optimizer").create_group("vars")
        group.attrs["name"] = getattr(optimizer, "name", type(optimizer).__name__.lower())
        for i, var in enumerate(variables):
            group.create_dataset(str(i), data=to_numpy(var))


def _read_weights(model, h5file, file_path, skip_mismatch=False):
    _load_state(model, h5file, "", skip_mismatch, file_path)


def _atomic_write(filepath, write):
    """Runs write(temp_path), then renames the temp file onto filepath."""
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(filepath), dir=directory)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")


def save_weights(model, filepath, overwrite=True):
    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    _check_overwrite(filepath, overwrite)
    h5py = _h5py()

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            _write_weights(model, f)
    _atomic_write(filepath, write)


def _open_h5(source, filepath):
    h5py = _h5py()
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{filepath} is not a readable Keras weights file (HDF5): {e}") from None


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        with _open_zip(filepath) as archive:
            data = _read_member(archive, _WEIGHTS, filepath)
        with _open_h5(io.BytesIO(data), filepath) as f:
            _read_weights(model, f, filepath, skip_mismatch)
        return
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"File format not supported: filepath={filepath}. Keras 3 only supports V3 `.keras` and "
                         "`.weights.h5` files.")
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath}")
    with _open_h5(filepath, filepath) as f:
        _read_weights(model, f, filepath, skip_mismatch)


# ---------------------------------------------------------------- .keras archives

def save_model(model, filepath, overwrite=True, zipped=None, include_optimizer=True, **kwargs):
    filepath = os.fspath(filepath)
    if filepath.endswith((".h5", ".hdf5")) and not filepath.endswith(".weights.h5"):
        raise NotImplementedError(f"{filepath}: the legacy HDF5 model format is not supported by ferrograd.keras; "
                                  "save to a `.keras` file (Keras 3's format) instead")
    if not filepath.endswith(".keras"):
        raise ValueError("Invalid filepath extension for saving. Please add either a `.keras` extension for the "
                         f"native Keras format (recommended) or a `.h5` extension. Received: filepath={filepath}")
    if zipped is False:
        raise NotImplementedError("model.save(zipped=False) is not supported by ferrograd.keras")
    _check_overwrite(filepath, overwrite)
    config = serialize_keras_object(model)
    if getattr(model, "compiled", False) and model._compile_config is not None and include_optimizer:
        config["compile_config"] = model._compile_config
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        if include_optimizer:
            _write_weights(model, f)
        else:
            _save_state(model, f)
    weights = buffer.getvalue()

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_METADATA, json.dumps(metadata))
            archive.writestr(_CONFIG, json.dumps(_jsonable(config)))
            archive.writestr(_WEIGHTS, weights)
    _atomic_write(filepath, write)


def _open_zip(filepath):
    if not os.path.exists(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible `.keras` "
                         "zip file.")
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{filepath} is not a valid `.keras` file (a zip archive): {e}") from None
    bad = archive.testzip()
    if bad is not None:
        archive.close()
        raise ValueError(f"{filepath} is corrupt: member {bad!r} fails its CRC check")
    return archive


def _read_member(archive, name, filepath):
    try:
        return archive.read(name)
    except KeyError:
        raise ValueError(f"{filepath} is not a valid `.keras` file: it has no {name!r}") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{filepath} is corrupt: cannot read {name!r}: {e}") from None


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"File format not supported: filepath={filepath}. Keras 3 only supports V3 `.keras` files "
                         "(and legacy H5 files, which ferrograd.keras does not read).")
    with _open_zip(filepath) as archive:
        try:
            config = json.loads(_read_member(archive, _CONFIG, filepath))
        except json.JSONDecodeError as e:
            raise ValueError(f"{filepath}: config.json is not valid JSON: {e}") from None
        weights = _read_member(archive, _WEIGHTS, filepath)
    objects = dict(_CUSTOM)
    objects.update(custom_objects or {})
    model = deserialize_keras_object(config, objects)
    with _open_h5(io.BytesIO(weights), filepath) as f:
        _read_weights(model, f, filepath)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        _compile_from_config(model, compile_config)
    return model


def _compile_from_config(model, config):
    from .. import losses, metrics, optimizers

    def restore(value, module):
        if isinstance(value, dict) and "class_name" in value:
            return module.deserialize(value)
        if isinstance(value, list):
            return [restore(v, module) for v in value]
        if isinstance(value, dict):
            return {k: restore(v, module) for k, v in value.items()}
        return value
    model.compile(optimizer=optimizers.deserialize(config["optimizer"]) if config.get("optimizer") else "rmsprop",
                  loss=restore(config.get("loss"), losses), loss_weights=config.get("loss_weights"),
                  metrics=restore(config.get("metrics"), metrics),
                  weighted_metrics=restore(config.get("weighted_metrics"), metrics))


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "serialize_keras_object",
           "deserialize_keras_object", "register_keras_serializable"]
