"""`compile`, `fit`, `evaluate`, `predict` and the `*_on_batch` methods of `keras.Model`.

A training step is the plain ferrograd loop — forward, loss, `backward()`, one optimizer update
over all trainable variables — with Keras's bookkeeping around it: compiled losses (weights per
output, sample and class weights, regularization), metrics, callbacks and logs. Running sums of
the loss and metrics stay on the device; logs are read back only when a callback or the progress
bar needs them."""
import itertools
import math
import numbers

import numpy as np

import ferrograd as torch
from ferrograd.utils.data import DataLoader, Dataset

from .. import losses as _losses
from .. import metrics as _metrics
from .._common import get_keras_mask, numpy_for_tensor, set_keras_mask, to_numpy
from ..callbacks import CallbackList
from ..layers._base import flatten, pack_like


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2; got {verbose!r}")
    return verbose


def _device_tensor(x, device):
    if isinstance(x, torch.Tensor):
        return x.detach().to(device) if x.device != device else x.detach()
    return torch.from_numpy(numpy_for_tensor(x)).to(device)


def _unpack(data):
    """Keras's unpacking of a batch: (x,), (x, y) or (x, y, sample_weight); a list counts as a tuple."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found a tuple of {len(data)} elements")


def _class_weights_to_sample_weights(y, class_weight):
    labels = to_numpy(y)
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(-1)
    labels = labels.reshape(labels.shape[0], -1)[:, 0] if labels.ndim > 1 else labels
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=np.float32)


class _ArrayBatches:
    """Arrays (numpy or tensors, nested in lists/dicts) moved to the device once, shuffled once
    per epoch with ferrograd's generator, and cut into batch views."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle, steps, device):
        self.structure = (x, y, sample_weight)
        flat = [a for a in flatten((x, y, sample_weight)) if a is not None]
        sizes = {int(np.shape(a)[0]) if not isinstance(a, torch.Tensor) else a.shape[0] for a in flat}
        if len(sizes) != 1:
            raise ValueError("Data cardinality is ambiguous. Make sure all arrays contain the same number of samples. "
                             f"Got sizes {sorted(sizes)}")
        self.n = sizes.pop()
        self.tensors = [_device_tensor(a, device) for a in flat]
        self.batch_size, self.shuffle, self.steps = batch_size, shuffle, steps
        self.num_batches = math.ceil(self.n / batch_size)
        if steps is not None:
            self.num_batches = min(self.num_batches, steps) if steps else self.num_batches

    def __iter__(self):
        tensors = self.tensors
        if self.shuffle and self.n > 1:
            order = torch.randperm(self.n, device=tensors[0].device)
            tensors = [t.index_select(0, order) for t in tensors]
        # the epoch's batch views cut at once (a narrow each): slicing per step costs an indexing call
        used = min(self.n, self.num_batches * self.batch_size)
        columns = [t.narrow(0, 0, used).split(self.batch_size)[:self.num_batches] for t in tensors]
        x, y, sw = self.structure
        if isinstance(x, (list, tuple, dict)) or isinstance(y, (list, tuple, dict)):
            return (self._pack(parts) for parts in zip(*columns))
        it, missing = iter(columns), itertools.repeat(None)
        return zip(next(it), missing if y is None else next(it), missing if sw is None else next(it))

    def _pack(self, parts):
        x, y, sw = self.structure
        it = iter(parts)
        return (pack_like(x, [next(it) for _ in flatten(x)]),
                None if y is None else pack_like(y, [next(it) for _ in flatten(y)]),
                None if sw is None else next(it))


class _IterableBatches:
    """Batches from a DataLoader (restarted each epoch) or a generator (consumed across epochs,
    `steps` batches per epoch)."""

    def __init__(self, source, steps, device):
        self.source, self.steps, self.device = source, steps, device
        self.restartable = not hasattr(source, "__next__")
        self._iterator = None
        try:
            length = len(source)
        except TypeError:
            length = None
        self.num_batches = steps if steps is not None else length
        self.exhausted = False

    def __iter__(self):
        if self.restartable or self._iterator is None:
            self._iterator = iter(self.source)
        for i, batch in enumerate(self._iterator):
            x, y, sw = _unpack(batch)
            yield (_convert(x, self.device), _convert(y, self.device), _convert(sw, self.device))
            if self.steps is not None and i + 1 >= self.steps:
                return
        self.exhausted = True


def _convert(structure, device):
    if structure is None:
        return None
    return pack_like(structure, [_device_tensor(a, device) for a in flatten(structure)])


def _split_for_validation(arrays, validation_split):
    """Keras's split: the first floor(n * (1 - split)) samples train, the rest validate."""
    flat = [a for a in flatten(arrays) if a is not None]
    n = int(flat[0].shape[0]) if isinstance(flat[0], torch.Tensor) else int(np.shape(flat[0])[0])
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split it into a validation "
                         f"and training set as specified by `validation_split={validation_split}`. Either provide "
                         "more data, or a different value for the `validation_split` argument.")

    def part(a, start, end):
        if a is None:
            return None
        return a[start:end]
    train = tuple(None if s is None else pack_like(s, [part(a, 0, split_at) for a in flatten(s)]) for s in arrays)
    val = tuple(None if s is None else pack_like(s, [part(a, split_at, n) for a in flatten(s)]) for s in arrays)
    return train, val


def _is_array_like(x):
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return True
    if isinstance(x, (list, tuple)) and x and all(_is_array_like(v) for v in x):
        return True
    if isinstance(x, dict) and x and all(_is_array_like(v) for v in x.values()):
        return True
    return False


class _CompiledLoss:
    """The compiled loss of each output (with its weight), and their weighted sum."""

    def __init__(self, loss, loss_weights, output_names):
        n = len(output_names)
        if isinstance(loss, dict):
            unknown = set(loss) - set(output_names)
            if unknown:
                raise ValueError(f"In the dict argument `loss`, keys {sorted(unknown)} do not match the model's "
                                 f"output names {output_names}")
            losses = [loss.get(name) for name in output_names]
        elif isinstance(loss, (list, tuple)):
            if len(loss) != n:
                raise ValueError(f"For a model with {n} outputs, when providing the `loss` argument as a list, it "
                                 f"should have as many entries as the model has outputs. Received: loss={loss}")
            losses = list(loss)
        else:
            losses = [loss] * n
        self.fns = [self._as_loss(l) for l in losses]
        if loss_weights is None:
            self.weights = [1.0] * n
        elif isinstance(loss_weights, dict):
            self.weights = [float(loss_weights.get(name, 1.0)) for name in output_names]
        else:
            if len(loss_weights) != n:
                raise ValueError(f"`loss_weights` has {len(loss_weights)} entries but the model has {n} outputs")
            self.weights = [float(w) for w in loss_weights]
        self.output_names = output_names

    @staticmethod
    def _as_loss(identifier):
        fn = _losses.get(identifier)
        if fn is None or isinstance(fn, _losses.Loss):
            return fn
        return _losses.LossFunctionWrapper(fn, name=getattr(fn, "__name__", "loss"))

    def __call__(self, y_true, y_pred, sample_weight):
        total, per_output = None, []
        for fn, w, yt, yp in zip(self.fns, self.weights, y_true, y_pred):
            if fn is None or yt is None:
                per_output.append(None)
                continue
            value = fn(yt, yp, sample_weight=sample_weight)
            per_output.append(value)
            term = value * w if w != 1.0 else value
            total = term if total is None else total + term
        if total is None:
            raise ValueError("No loss to compute: give `y` (targets) to fit/evaluate and a `loss` to compile")
        return total, per_output


def _resolve_accuracy(identifier, y_true, y_pred):
    """Keras's resolution of 'accuracy'/'acc' and 'crossentropy'/'ce' from the target and output shapes."""
    if identifier not in ("accuracy", "acc", "crossentropy", "ce"):
        return _metrics.get(identifier)
    t_shape, p_shape = tuple(y_true.shape), tuple(y_pred.shape)
    binary = p_shape[-1] == 1
    sparse = len(t_shape) < len(p_shape) or (t_shape[-1] == 1 and p_shape[-1] > 1)
    if identifier in ("accuracy", "acc"):
        cls = (_metrics.BinaryAccuracy if binary else _metrics.SparseCategoricalAccuracy if sparse
               else _metrics.CategoricalAccuracy)
    else:
        cls = (_metrics.BinaryCrossentropy if binary else _metrics.SparseCategoricalCrossentropy if sparse
               else _metrics.CategoricalCrossentropy)
    return cls(name=identifier)


class _CompiledMetrics:
    def __init__(self, metrics, weighted_metrics, output_names):
        self.output_names = output_names
        self.specs = self._per_output(metrics, "metrics") + [
            (i, m, True) for i, m, _ in self._per_output(weighted_metrics, "weighted_metrics")]
        self.metrics = None

    def _per_output(self, metrics, arg):
        if not metrics:
            return []
        n = len(self.output_names)
        if isinstance(metrics, dict):
            return [(self.output_names.index(k), m, False) for k, ms in metrics.items()
                    for m in (ms if isinstance(ms, (list, tuple)) else [ms])]
        if n > 1 and any(isinstance(m, (list, tuple)) for m in metrics):
            if len(metrics) != n:
                raise ValueError(f"For a model with {n} outputs, when providing the `{arg}` argument as a list of "
                                 f"lists, it should have as many entries as the model has outputs.")
            return [(i, m, False) for i, ms in enumerate(metrics) for m in (ms if isinstance(ms, (list, tuple)) else [ms])
                    if m is not None]
        return [(i, m, False) for i in range(n) for m in metrics]

    def build(self, y_true, y_pred):
        self.metrics = []
        unweighted_names = set()
        for index, identifier, weighted in self.specs:
            if y_true[index] is None:
                continue
            metric = _resolve_accuracy(identifier, y_true[index], y_pred[index]) if isinstance(identifier, str) \
                else _metrics.get(identifier)
            if len(self.output_names) > 1:
                metric.name = f"{self.output_names[index]}_{metric.name}"
            if weighted and metric.name in unweighted_names:
                metric.name = f"weighted_{metric.name}"
            elif not weighted:
                unweighted_names.add(metric.name)
            self.metrics.append((index, metric, weighted))

    def update(self, y_true, y_pred, sample_weight):
        if self.metrics is None:
            self.build(y_true, y_pred)
        for index, metric, weighted in self.metrics:
            metric.update_state(y_true[index], y_pred[index], sample_weight if weighted else None)


class Trainer:
    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._in_fit = False
        self._compiled_loss = None
        self._compiled_metrics = None
        self._loss_tracker = _metrics.Mean(name="loss")
        self._output_loss_trackers = []
        self._compile_config = None

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        if jit_compile is True:
            raise NotImplementedError("compile(jit_compile=True) needs ferrograd.compile, which ferrograd does not "
                                      "have yet; use jit_compile='auto' or False (the train step runs eagerly)")
        if jit_compile not in ("auto", False, None):
            raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
        if steps_per_execution != 1:
            raise NotImplementedError("compile(steps_per_execution > 1) is not supported by ferrograd.keras")
        from .. import optimizers as _optimizers
        self.optimizer = _optimizers.get(optimizer)
        self.loss = loss
        self._loss_weights = loss_weights
        self._metrics_arg, self._weighted_metrics_arg = metrics, weighted_metrics
        self._compiled_loss = None
        self._compiled_metrics = None
        self._loss_tracker = _metrics.Mean(name="loss")
        self.compiled = True
        self.stop_training = False
        from ..saving import serialize_keras_object
        self._compile_config = {"optimizer": serialize_keras_object(self.optimizer),
                                "loss": _serialize_compile_arg(loss, _losses.serialize),
                                "loss_weights": loss_weights,
                                "metrics": _serialize_compile_arg(metrics, _metrics.serialize),
                                "weighted_metrics": _serialize_compile_arg(weighted_metrics, _metrics.serialize),
                                "run_eagerly": run_eagerly, "steps_per_execution": 1, "jit_compile": False}

    def _output_names_for_compile(self):
        names = getattr(self, "output_names", None)
        if names:
            return list(names)
        return ["output_1"]

    def _ensure_compiled_parts(self, y_pred_flat):
        names = self._output_names_for_compile()
        if len(names) != len(y_pred_flat):
            names = [f"output_{i + 1}" for i in range(len(y_pred_flat))]
        self._compile_output_names = names
        self._compiled_loss = _CompiledLoss(self.loss, self._loss_weights, names)
        self._compiled_metrics = _CompiledMetrics(self._metrics_arg, self._weighted_metrics_arg, names)
        self._output_loss_trackers = ([_metrics.Mean(name=f"{n}_loss") for n in names] if len(names) > 1 else [])

    @property
    def metrics(self):
        out = [self._loss_tracker]
        if self._compiled_metrics is not None and self._compiled_metrics.metrics is not None:
            out += [m for _, m, _ in self._compiled_metrics.metrics]
        return out + list(self._output_loss_trackers)

    @property
    def metrics_names(self):
        if self._compiled_metrics is not None and self._compiled_metrics.specs:
            return ["loss", "compile_metrics"]
        return ["loss"]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _check_compiled(self, what):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before using the model for {what}.")

    # ------------------------------------------------------------------ steps
    def _targets_flat(self, y, n_outputs):
        if y is None:
            return [None] * n_outputs
        if isinstance(y, dict):
            names = self._compile_output_names
            return [y.get(name) for name in names]
        if n_outputs > 1:
            flat = flatten(y)
            if len(flat) != n_outputs:
                raise ValueError(f"The model has {n_outputs} outputs but {len(flat)} targets were given")
            return flat
        return [y]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss of a batch (compiled losses, regularization, layers' added losses), as
        Keras 3's `Model.compute_loss`; override it to change the loss `fit` minimises."""
        return self._loss_parts(x, y, y_pred, sample_weight)[0]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics with a batch and returns every metric's result."""
        y_pred_flat = [y_pred] if isinstance(y_pred, torch.Tensor) else flatten(y_pred)
        if self._compiled_metrics is None:
            self._ensure_compiled_parts(y_pred_flat)
        if self._compiled_metrics.specs:
            self._compiled_metrics.update(self._targets_flat(y, len(y_pred_flat)), [_detached(p) for p in y_pred_flat],
                                          sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """Every metric's current result (`loss` and the compiled metrics), as Keras 3."""
        return self._logs()

    def zero_grad(self):
        """Drops the trainable weights' gradients (Keras 3's torch backend: Layer is a Module)."""
        for var in self.trainable_weights:
            var.grad = None

    def _loss_parts(self, x, y, y_pred, sample_weight):
        """(total loss, per-output losses, flat targets, flat predictions) of a batch."""
        y_pred_flat = [y_pred] if isinstance(y_pred, torch.Tensor) else flatten(y_pred)
        if self._compiled_loss is None:
            self._ensure_compiled_parts(y_pred_flat)
        y_flat = self._targets_flat(y, len(y_pred_flat))
        loss, per_output = self._compiled_loss(y_flat, y_pred_flat, sample_weight)
        for reg, var in self._regularizers:
            loss = loss + reg(var)
        for layer in self._all_layers:
            for extra in layer._call_losses:
                loss = loss + extra
        return loss, per_output, y_flat, y_pred_flat

    def _prepare_step_state(self):
        # object.__setattr__: these lists hold the model itself, which must not track them as sub-layers
        object.__setattr__(self, "_all_layers", self._walk())
        self._regularizers = self._regularization_terms()
        self._train_vars = self.trainable_weights
        self._step_state_complete = self.built

    def _update_trackers(self, loss, per_output, y_flat, y_pred_flat, sample_weight, batch_size):
        # a batch's mean loss counts once per sample, as Keras's loss trackers weigh it
        self._loss_tracker._defer(loss.detach(), batch_size, batch_size)
        for tracker, value in zip(self._output_loss_trackers, per_output):
            if value is not None:
                tracker._defer(value.detach(), batch_size, batch_size)
        if self._compiled_metrics.specs:
            self._compiled_metrics.update(y_flat, [_detached(p) for p in y_pred_flat], sample_weight)

    def train_step(self, data):
        """One optimizer step on `data` (`x`, `(x, y)` or `(x, y, sample_weight)`); returns the
        metrics' results. Override it (Keras 3's signature) to customise what `fit` does."""
        self._train_step(*_unpack(data))
        return self.get_metrics_result()

    def test_step(self, data):
        """Updates the metrics with one batch of `data`; returns their results."""
        self._test_step(*_unpack(data))
        return self.get_metrics_result()

    def predict_step(self, data):
        return self(_unpack(data)[0], training=False)

    def _overrides(self, name):
        return getattr(type(self), name) is not getattr(Trainer, name)

    def _batch_loss_parts(self, x, y, y_pred, sample_weight, training):
        if self._overrides("compute_loss"):
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=training)
            y_flat_pred = [y_pred] if isinstance(y_pred, torch.Tensor) else flatten(y_pred)
            return loss, [], self._targets_flat(y, len(y_flat_pred)), y_flat_pred
        return self._loss_parts(x, y, y_pred, sample_weight)

    def _train_step(self, x, y=None, sample_weight=None):
        y_pred = self(x, training=True)
        if not getattr(self, "_step_state_complete", False):
            # Before fit prepared it (a direct train_step call), or a subclassed model that
            # builds its layers in its first call.
            self._prepare_step_state()
        variables = self._train_vars
        for var in variables:
            var.grad = None
        loss, per_output, y_flat, y_pred_flat = self._batch_loss_parts(x, y, y_pred, sample_weight, True)
        loss.backward()
        self.optimizer.apply([var.grad for var in variables], variables)
        self._update_trackers(loss, per_output, y_flat, y_pred_flat, sample_weight, _batch_size(x))

    def _test_step(self, x, y=None, sample_weight=None):
        y_pred = self(x, training=False)
        loss, per_output, y_flat, y_pred_flat = self._batch_loss_parts(x, y, y_pred, sample_weight, False)
        self._update_trackers(loss, per_output, y_flat, y_pred_flat, sample_weight, _batch_size(x))

    def _run_step(self, name, x, y, sample_weight):
        """A train or test step: the built-in one (its metrics read only when logs are wanted), or
        the model's own `train_step(data)`/`test_step(data)` and the logs it returns."""
        if self._overrides(name):
            data = (x,) if y is None and sample_weight is None else (x, y) if sample_weight is None else (x, y, sample_weight)
            logs = getattr(self, name)(data)
            self._custom_logs = {k: _as_log_value(v.item() if isinstance(v, torch.Tensor) else v)
                                 for k, v in (logs or {}).items()}
            return
        self._custom_logs = None
        getattr(self, "_" + name)(x, y, sample_weight)

    def _logs(self):
        if getattr(self, "_custom_logs", None) is not None:
            return dict(self._custom_logs)
        logs = {}
        if self._compiled_metrics is not None and self._compiled_metrics.metrics is not None:
            for _, metric, _ in self._compiled_metrics.metrics:
                logs[metric.name] = _as_log_value(metric.result())
        logs["loss"] = _as_log_value(self._loss_tracker.result())
        for tracker in self._output_loss_trackers:
            logs[tracker.name] = _as_log_value(tracker.result())
        return logs

    def _ordered_results(self, logs):
        values = [logs["loss"]] + [v for k, v in logs.items() if k != "loss"]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ data
    def _device(self):
        weights = self.weights if self.built else []
        return weights[0].device if weights else torch.device(torch.get_default_device())

    def _batches(self, x, y, sample_weight, batch_size, shuffle, steps, what):
        if isinstance(x, Dataset) or (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not _is_array_like(x)
                                      and not isinstance(x, (list, tuple, dict))):
            if y is not None:
                raise ValueError(f"`y` argument is not supported when using a dataset as input to {what}")
            x = DataLoader(x, batch_size=batch_size or 32, shuffle=shuffle)
        if _is_array_like(x):
            return _ArrayBatches(x, y, sample_weight, batch_size or 32, shuffle, steps, self._device())
        if y is not None:
            raise ValueError(f"`y` argument is not supported when using a generator or DataLoader as input to {what}")
        if sample_weight is not None:
            raise ValueError(f"`sample_weight` argument is not supported when using a generator or DataLoader as "
                             f"input to {what}; yield (x, y, sample_weight) batches instead")
        if isinstance(x, DataLoader) or hasattr(x, "__iter__"):
            return _IterableBatches(x, steps, self._device())
        raise ValueError(f"Unrecognized data type: x={x!r} (of type {type(x).__name__})")

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        self._check_compiled("training")
        verbose = _resolve_verbose(verbose)
        if class_weight is not None and sample_weight is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        if validation_split and validation_data is None:
            if not _is_array_like(x):
                raise ValueError("`validation_split` is only supported for Tensors or NumPy arrays, "
                                 f"found following types in the input: {type(x).__name__}")
            (x, y, sample_weight), validation_data = _split_for_validation((x, y, sample_weight), validation_split)
        if class_weight is not None:
            if not _is_array_like(x):
                raise NotImplementedError("fit(class_weight=...) with a generator or DataLoader is not supported "
                                          "by ferrograd.keras; yield sample weights instead")
            if y is None or isinstance(y, (list, tuple, dict)) and len(flatten(y)) > 1:
                raise ValueError("`class_weight` is only supported for Models with a single output.")
            sample_weight = _class_weights_to_sample_weights(y, class_weight)
        train_data = self._batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, "fit")
        val_data = None
        if validation_data is not None:
            if isinstance(validation_data, tuple) and _is_array_like(validation_data[0]):
                vx, vy, vsw = _unpack(validation_data)
                val_data = self._batches(vx, vy, vsw, validation_batch_size or batch_size, False, validation_steps,
                                         "fit")
            else:
                val_data = self._batches(validation_data, None, None, validation_batch_size or batch_size, False,
                                         validation_steps, "fit")
        if not isinstance(callbacks, CallbackList):
            callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=epochs, steps=train_data.num_batches)
        self.stop_training = False
        self._in_fit = True
        self._prepare_step_state()
        progbar = callbacks.progbar
        training_logs = None
        try:
            callbacks.on_train_begin({})
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                callbacks.on_epoch_begin(epoch, {})
                step = -1
                hooks = callbacks.has_train_batch_hooks
                for step, (xb, yb, swb) in enumerate(train_data):
                    if hooks:
                        callbacks.on_train_batch_begin(step, logs={})
                    self._run_step("train_step", xb, yb, swb)
                    if hooks:
                        wants = callbacks.wants_batch_logs or (progbar is not None and progbar.wants_logs())
                        callbacks.on_train_batch_end(step, logs=self._logs() if wants else None)
                    if self.stop_training:
                        break
                if step < 0 and getattr(train_data, "exhausted", False):
                    import warnings
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                                  "generator can generate at least `steps_per_epoch * epochs` batches.", stacklevel=2)
                    break
                epoch_logs = self._logs()
                if val_data is not None and _should_validate(epoch, validation_freq):
                    val_logs = self._evaluate_batches(val_data, callbacks)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if self.stop_training:
                    break
            callbacks.on_train_end(logs=training_logs)
        finally:
            self._in_fit = False
        return self.history

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_batches(self, data, callbacks):
        self.reset_metrics()
        callbacks.on_test_begin({})
        with torch.no_grad():
            for step, (xb, yb, swb) in enumerate(data):
                callbacks.on_test_batch_begin(step, logs={})
                self._run_step("test_step", xb, yb, swb)
                progbar = callbacks.progbar
                wants = callbacks.wants_batch_logs or (progbar is not None and progbar.wants_logs() and not self._in_fit)
                callbacks.on_test_batch_end(step, logs=self._logs() if wants else None)
        logs = self._logs()
        callbacks.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        self._check_compiled("evaluation")
        if kwargs:
            raise ValueError(f"Arguments not recognized: {kwargs}")
        verbose = _resolve_verbose(verbose)
        data = self._batches(x, y, sample_weight, batch_size, False, steps, "evaluate")
        if not isinstance(callbacks, CallbackList):
            callbacks = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
                                     steps=data.num_batches)
        self._prepare_step_state()
        logs = self._evaluate_batches(data, callbacks)
        return logs if return_dict else self._ordered_results(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        verbose = _resolve_verbose(verbose)
        data = self._batches(x, None, None, batch_size, False, steps, "predict")
        if not isinstance(callbacks, CallbackList):
            callbacks = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
                                     steps=data.num_batches)
        outputs = []
        callbacks.on_predict_begin({})
        with torch.no_grad():
            for step, (xb, _, _) in enumerate(data):
                callbacks.on_predict_batch_begin(step, logs={})
                out = self.predict_step((xb,)) if self._overrides("predict_step") else self(xb, training=False)
                outputs.append(out)
                callbacks.on_predict_batch_end(step, logs={"outputs": out})
        callbacks.on_predict_end({})
        if not outputs:
            raise ValueError("Unexpected result of `predict_function` (Empty batch_outputs). Please use "
                             "`Model.compile(..., run_eagerly=True)`, or `tf.config.run_functions_eagerly(True)` for "
                             "more information of where went wrong, or file a issue/bug to `tf.keras`.")
        flat = [flatten(o) for o in outputs]
        merged = [np.concatenate([to_numpy(batch[i]) for batch in flat]) for i in range(len(flat[0]))]
        return pack_like(outputs[0], merged) if isinstance(outputs[0], (list, tuple, dict)) else merged[0]

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._check_compiled("training")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
            sample_weight = _class_weights_to_sample_weights(y, class_weight)
        device = self._device()
        x, y, sample_weight = (_convert(s, device) for s in (x, y, sample_weight))
        self._prepare_step_state()
        self._run_step("train_step", x, y, sample_weight)
        logs = self._logs()
        return logs if return_dict else self._ordered_results(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._check_compiled("evaluation")
        device = self._device()
        x, y, sample_weight = (_convert(s, device) for s in (x, y, sample_weight))
        self._prepare_step_state()
        self.reset_metrics()
        with torch.no_grad():
            self._run_step("test_step", x, y, sample_weight)
        logs = self._logs()
        return logs if return_dict else self._ordered_results(logs)

    def predict_on_batch(self, x):
        with torch.no_grad():
            out = self(_convert(x, self._device()), training=False)
        return map_to_numpy(out)


def _detached(t):
    """`t.detach()` keeping the Keras mask that the metrics read."""
    out = t.detach()
    mask = get_keras_mask(t)
    if mask is not None:
        set_keras_mask(out, mask)
    return out


def map_to_numpy(out):
    if isinstance(out, (list, tuple, dict)):
        return pack_like(out, [to_numpy(o) for o in flatten(out)])
    return to_numpy(out)


def _batch_size(x):
    return len(x if isinstance(x, torch.Tensor) else flatten(x)[0])


def _unpack(data):
    """(x, y, sample_weight) of a batch given as x, (x,), (x, y) or (x, y, sample_weight)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) > 3:
        raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: {data}")
    return tuple(data) + (None,) * (3 - len(data))


def _as_log_value(value):
    return float(value) if isinstance(value, numbers.Number) or np.ndim(value) == 0 else value


def _should_validate(epoch, validation_freq):
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def _serialize_compile_arg(value, serialize):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [_serialize_compile_arg(v, serialize) for v in value]
    if isinstance(value, dict):
        return {k: _serialize_compile_arg(v, serialize) for k, v in value.items()}
    try:
        return serialize(value)
    except (ValueError, AttributeError, TypeError):
        return None
