"""`TensorBoard`: Keras 3's `keras.callbacks.TensorBoard` on ferrograd's SummaryWriter, exported
(lazily, as it needs the `viz` extra) as `ferrograd.keras.callbacks.TensorBoard`.

It keeps Keras's hooks and log layout: runs `<log_dir>/train` and `<log_dir>/validation`; tags
`epoch_<metric>` (validation metrics lose their `val_` prefix and go to the validation run),
`epoch_learning_rate`, `batch_<metric>` every `update_freq` batches, `evaluation_<metric>_vs_iterations`
after `evaluate`, `<weight path>/histogram` every `histogram_freq` epochs, and with
`write_graph` the model's JSON under `keras` for the graph dashboard's conceptual graph. The
model is duck-typed: `layers` (each with `weights`) or `weights`/`trainable_weights`, an
`optimizer` with `learning_rate` (and `iterations`), and `to_json()` for the graph.
"""
import os
import time
import warnings

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto

from ..._core import Tensor
from ...keras.callbacks import Callback
from ._summary import to_numpy
from .writer import SummaryWriter


class TensorBoard(Callback):
    """`TensorBoard(log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
    write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
    embeddings_metadata=None)`, Keras 3's signature. `profile_batch` and `embeddings_freq` need
    TensorFlow's profiler and checkpoints: anything but 0 raises ValueError."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        if profile_batch:
            raise ValueError(f"Profiling is not available with ferrograd. Received: profile_batch={profile_batch} (must be 0)")
        if embeddings_freq:
            raise ValueError(f"Embedding checkpoints are not available with ferrograd. Received: "
                             f"embeddings_freq={embeddings_freq} (must be 0)")
        if update_freq != "epoch" and update_freq != "batch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive int, got {update_freq!r}")
        self.log_dir = str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self.params = {}
        self._model = None
        self._writers = {}
        self._global_train_batch = 0
        self._batch_start_time = 0.0
        self._epoch_start_time = 0.0
        self._epoch_start_iterations = 0

    # ------------------------------------------------------------ Keras Callback interface

    def set_model(self, model):
        """Keeps the model, starts new writers and writes the model's graph if asked."""
        self._close_writers()
        self._model = model
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        if self.write_graph:
            self._write_model_json()

    def _uses_batch_hooks(self):
        """For ferrograd.keras's CallbackList: batch logs (a device read-back each step) are
        only needed when batches are logged."""
        return self.update_freq != "epoch" or self.write_steps_per_second

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start_time = time.time()
            self._epoch_start_iterations = self._iterations()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq != 0:
            return
        step = self._global_train_batch
        if self.write_steps_per_second:
            self._writer("train").add_scalar("batch_steps_per_second", 1.0 / max(time.time() - self._batch_start_time, 1e-9), step)
        if isinstance(logs, dict):
            for name, value in logs.items():
                self._writer("train").add_scalar(f"batch_{name}", _number(value), step)

    def on_test_end(self, logs=None):
        iterations = self._iterations()
        if iterations is None or not logs:
            return
        for name, value in logs.items():
            self._writer("validation").add_scalar(f"evaluation_{name}_vs_iterations", _number(value), iterations)

    def on_batch_begin(self, batch, logs=None):
        self.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch, logs)

    # ------------------------------------------------------------ writing

    def _writer(self, run):
        writer = self._writers.get(run)
        if writer is None:
            writer = self._writers[run] = SummaryWriter(self._train_dir if run == "train" else self._val_dir)
        return writer

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _iterations(self):
        optimizer = getattr(self._model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return None if iterations is None else int(_number(iterations))

    def _learning_rates(self):
        optimizer = getattr(self._model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if hasattr(optimizer, "optimizers"):
            return {f"learning_rate_{opt.name}": _number(opt.learning_rate) for opt in optimizer.optimizers}
        if getattr(optimizer, "learning_rate", None) is not None:
            return {"learning_rate": _number(optimizer.learning_rate)}
        return {}

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        train.update(self._learning_rates())
        if self.write_steps_per_second:
            iterations = self._iterations() or 0
            train["steps_per_second"] = (iterations - self._epoch_start_iterations) / max(time.time() - self._epoch_start_time, 1e-9)
        for run, metrics in (("train", train), ("validation", val)):
            for name, value in metrics.items():
                self._writer(run).add_scalar(f"epoch_{name}", _number(value), epoch)

    def _log_weights(self, epoch):
        writer = self._writer("train")
        for name, value in _named_weights(self._model):
            writer.add_histogram(f"{name}/histogram", value, epoch)
            if self.write_images:
                image = _weight_image(value)
                if image is not None:
                    writer.add_images(f"{name}/image", image, epoch, dataformats="NHWC")
        writer.flush()

    def _write_model_json(self):
        if type(self._model).__name__ not in ("Functional", "Sequential") or not hasattr(self._model, "to_json"):
            return
        try:
            config = self._model.to_json()
        except Exception as e:  # noqa: BLE001 (Keras too only warns: a model that cannot be serialized still trains)
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {e}")
            return
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="graph_keras_model", content=b"1"))
        tensor = TensorProto(dtype="DT_STRING", string_val=[config.encode()])
        summary = Summary(value=[Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
        self._writer("train").file_writer.add_summary(summary, 0)


def _number(value):
    """A metric or hyper-parameter (float, numpy value, tensor, Keras variable) as a float."""
    if isinstance(value, Tensor):
        return float(to_numpy(value).reshape(()))
    return float(np.asarray(value).reshape(()))


def _array(weight):
    return to_numpy(weight) if isinstance(weight, Tensor) else np.asarray(weight)


def _named_weights(model):
    """(name, numpy value) of each weight: layer by layer as Keras does, else the model's own."""
    layers = getattr(model, "layers", None)
    weights = ([w for layer in layers for w in layer.weights] if layers is not None
               else getattr(model, "weights", None) or model.trainable_weights)
    for i, weight in enumerate(weights):
        name = getattr(weight, "path", None) or getattr(weight, "name", None) or f"weight_{i}"
        yield name.replace(":", "_"), _array(weight)


def _weight_image(value):
    """A weight as Keras draws it: bias [1, n, 1, 1], dense kernel [1, short, long, 1], conv
    kernel (channels last) one grey image per output channel; None for other shapes."""
    w = np.squeeze(value)
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        w = w.transpose(2, 0, 1)[..., np.newaxis]
    if w.ndim != 4 or w.shape[-1] not in (1, 3, 4):
        return None
    return w
