"""`keras.metrics`: stateful metrics with `update_state` / `result` / `reset_state`.

Mean-style metrics keep their running sums as detached ferrograd tensors on the data's device,
so updating them each batch does not wait for the device; `result()` reads them back."""
import numpy as np

import ferrograd as torch

from . import losses as _losses
from ._common import get_keras_mask, to_numpy, to_snake_case, to_tensor, unique_name


class Metric:
    def __init__(self, name=None, dtype=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = dtype or "float32"
        self.reset_state()

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        pass

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def variables(self):
        return []

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


_FOLD_EVERY = 1024


class Mean(Metric):
    """The (weighted) mean of the values given to `update_state`."""
    _direction = "down"

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0
        self._pending = []

    def _defer(self, value, weight, count):
        """Adds `value` (a one-element tensor) times `weight` to the total, and `count` to the
        count, when the result is next read: one sum over all batches then instead of an add per
        batch. Runs without reads are folded every `_FOLD_EVERY` batches."""
        self._pending.append((value, weight, count))
        if len(self._pending) >= _FOLD_EVERY:
            self._fold_pending()

    def _fold_pending(self):
        if self._pending:
            values, weights, counts = zip(*self._pending)
            # flatten + cat: stack's per-tensor shape checks cost more than the sum itself
            flat = torch.cat([v.flatten() for v in values])
            # through numpy: torch.tensor(list) infers the list's type element by element (~6x slower)
            weights = torch.from_numpy(np.array(weights, dtype=np.float32)).to(device=flat.device, dtype=flat.dtype)
            self._total = self._total + torch.sum(flat * weights)
            self._count = self._count + sum(counts)
            self._pending = []

    def update_state(self, values, sample_weight=None):
        values = to_tensor(values).detach()
        if not values.is_floating_point():
            values = values.to(torch.float32)
        if sample_weight is None:
            self._defer(torch.sum(values), 1, values.numel())
            return
        weighted, sw = _losses._apply_sample_weight(values, sample_weight)
        self._total = self._total + torch.sum(weighted)
        self._count = self._count + torch.sum(sw.detach().expand(values.shape))

    def result(self):
        self._fold_pending()
        total = float(self._total)
        count = float(self._count)
        return total / count if count else 0.0


class Sum(Metric):
    def reset_state(self):
        self._total = 0.0

    def update_state(self, values, sample_weight=None):
        values = to_tensor(values).detach()
        if sample_weight is not None:
            values, _ = _losses._apply_sample_weight(values, sample_weight)
        self._total = self._total + torch.sum(values)

    def result(self):
        return float(self._total)


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred)` over all samples seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        mask = get_keras_mask(y_pred)
        if mask is not None:  # Keras: masked entries weigh 0
            mask = mask.to(torch.float32).to(y_pred.device)
            sample_weight = mask if sample_weight is None else _losses._apply_sample_weight(mask, sample_weight)[0]
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


def _labels_like(y_true, y_pred):
    return to_tensor(y_true, device=y_pred.device)


def accuracy(y_true, y_pred):
    y_true = _labels_like(y_true, y_pred)
    return (y_true == y_pred).to(torch.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true = _labels_like(y_true, y_pred)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true.unsqueeze(-1)
    predicted = (y_pred > threshold).to(torch.float32)
    return (predicted == y_true.to(torch.float32)).to(torch.float32).mean(dim=-1)


def _one_hot_like(y_true, y_pred, name):
    y_true = _labels_like(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: one-hot targets of shape {tuple(y_true.shape)} do not match predictions of shape "
                         f"{tuple(y_pred.shape)} (integer labels need the sparse_ variant)")
    return y_true


def categorical_accuracy(y_true, y_pred):
    y_true = _one_hot_like(y_true, y_pred, "categorical_accuracy")
    return (y_true.argmax(-1) == y_pred.argmax(-1)).to(torch.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true = _labels_like(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_pred.argmax(-1) == y_true.to(torch.int64)).to(torch.float32)


def _in_top_k(y_pred, labels, k):
    k = min(k, y_pred.shape[-1])
    top = torch.topk(y_pred, k, dim=-1).indices
    return (top == labels.unsqueeze(-1)).any(dim=-1).to(torch.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true = _one_hot_like(y_true, y_pred, "top_k_categorical_accuracy")
    return _in_top_k(y_pred, y_true.argmax(-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    y_true = _labels_like(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return _in_top_k(y_pred, y_true.to(torch.int64), k)


def _wrapper_class(class_name, fn, default_name, positional=(), **defaults):
    """A MeanMetricWrapper subclass; positional arguments fill `positional`, then name, dtype."""
    order = list(positional) + ["name", "dtype"]

    def __init__(self, *args, **kwargs):
        options = {**defaults, "name": default_name, "dtype": None}
        if len(args) > len(order):
            raise TypeError(f"{class_name}() takes at most {len(order)} positional arguments")
        options.update(zip(order, args))
        options.update(kwargs)
        MeanMetricWrapper.__init__(self, fn, **options)

    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__})


Accuracy = _wrapper_class("Accuracy", accuracy, "accuracy")
BinaryAccuracy = _wrapper_class("BinaryAccuracy", binary_accuracy, "binary_accuracy", threshold=0.5)
CategoricalAccuracy = _wrapper_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                           "sparse_categorical_accuracy")
TopKCategoricalAccuracy = _wrapper_class("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                         "top_k_categorical_accuracy", positional=("k",), k=5)
SparseTopKCategoricalAccuracy = _wrapper_class("SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
                                               "sparse_top_k_categorical_accuracy", positional=("k",), k=5)
for _accuracy in (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
                  SparseTopKCategoricalAccuracy):
    _accuracy._direction = "up"
MeanSquaredError = _wrapper_class("MeanSquaredError", _losses.mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", _losses.mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper_class("MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error,
                                             "mean_absolute_percentage_error")
BinaryCrossentropy = _wrapper_class("BinaryCrossentropy", _losses.binary_crossentropy, "binary_crossentropy",
                                    from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _wrapper_class("CategoricalCrossentropy", _losses.categorical_crossentropy,
                                         "categorical_crossentropy", from_logits=False, label_smoothing=0.0)
SparseCategoricalCrossentropy = _wrapper_class("SparseCategoricalCrossentropy",
                                               _losses.sparse_categorical_crossentropy,
                                               "sparse_categorical_crossentropy", from_logits=False)


class RootMeanSquaredError(Mean):
    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = to_tensor(y_true, device=y_pred.device)
        diff = y_pred - y_true.to(y_pred.dtype)
        super().update_state(diff * diff, sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


# ---------------------------------------------------------------- confusion-matrix metrics

class _Confusion(Metric):
    """True/false positives/negatives counted per threshold over all entries (`pred > threshold`)."""
    _direction = "up"

    def __init__(self, thresholds, name=None, dtype=None, class_id=None, top_k=None):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.class_id, self.top_k = class_id, top_k
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = to_numpy(y_true).astype(np.float64), to_numpy(y_pred).astype(np.float64)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        y_true = np.broadcast_to(y_true, y_pred.shape)
        if self.top_k is not None:
            kth = -np.sort(-y_pred, axis=-1)[..., self.top_k - 1:self.top_k]
            y_pred = np.where(y_pred >= kth, y_pred, -np.inf)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weight = np.ones_like(y_pred)
        if sample_weight is not None:
            sw = to_numpy(sample_weight).astype(np.float64)
            weight = weight * sw.reshape(sw.shape + (1,) * (y_pred.ndim - sw.ndim))
        pos = (y_true > 0.5).ravel()
        pred = y_pred.ravel()[None, :] > self.thresholds[:, None]
        w = weight.ravel()[None, :]
        self.true_positives += ((pred & pos) * w).sum(1)
        self.false_positives += ((pred & ~pos) * w).sum(1)
        self.true_negatives += ((~pred & ~pos) * w).sum(1)
        self.false_negatives += ((~pred & pos) * w).sum(1)


def _divide_no_nan(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)


class Precision(_Confusion):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        super().__init__(np.atleast_1d(0.5 if thresholds is None else thresholds), name, dtype, class_id, top_k)

    def result(self):
        out = _divide_no_nan(self.true_positives, self.true_positives + self.false_positives)
        return float(out[0]) if len(out) == 1 else out

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Recall(Precision):
    def result(self):
        out = _divide_no_nan(self.true_positives, self.true_positives + self.false_negatives)
        return float(out[0]) if len(out) == 1 else out


class AUC(_Confusion):
    """Area under the ROC (or PR) curve from `num_thresholds` evenly spaced thresholds, with
    Keras's Riemann sums (`interpolation` is the trapezoid for ROC)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if multi_label or label_weights is not None:
            raise NotImplementedError("AUC(multi_label=True / label_weights) is not supported by ferrograd.keras")
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["ROC", "PR"]')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"Invalid AUC summation method value: {summation_method!r}")
        if thresholds is not None:
            inner = sorted(thresholds)
            num_thresholds = len(inner) + 2
        else:
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve.upper(), summation_method
        self.from_logits = from_logits
        super().__init__([-1e-7] + list(inner) + [1.0 + 1e-7], name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.from_logits:
            y_pred = torch.sigmoid(to_tensor(y_pred))
        super().update_state(y_true, y_pred, sample_weight)

    def result(self):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def _interpolate_pr_auc(self):
        """Davis & Goadrich's interpolation of the PR curve, as Keras computes it."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        prec_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)),
                                np.ones_like(p[1:]))
        pr_auc_increment = _divide_no_nan(prec_slope * (dtp + intercept * np.log(safe_p_ratio)),
                                          np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(pr_auc_increment))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "multi_label": False, "from_logits": self.from_logits}


mse = MSE = _losses.mean_squared_error
mae = MAE = _losses.mean_absolute_error

_CLASSES = {c.__name__: c for c in (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
                                    MeanAbsoluteError, MeanAbsolutePercentageError, RootMeanSquaredError,
                                    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                    Precision, Recall, AUC)}
_BY_NAME = {"accuracy": Accuracy, "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "top_k_categorical_accuracy": TopKCategoricalAccuracy,
            "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
            "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
            "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
            "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "auc": AUC, "precision": Precision, "recall": Recall}


def get(identifier):
    """A metric from a name, a config dict, a Metric instance or a function `(y_true, y_pred)`."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
        return cls(name=identifier) if identifier in _BY_NAME else cls()
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", "metric"))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric):
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config):
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown metric: {config['class_name']!r}")
    return cls.from_config(config.get("config", {}))
