"""`keras.losses`: Keras's losses by function and class, with Keras's reductions and sample
weights, computed with ferrograd ops (so they backpropagate)."""
import ferrograd as torch
import ferrograd.nn.functional as F

from ._common import get_keras_mask, to_tensor

EPSILON = 1e-7


def _float(x, like=None):
    device = like.device if like is not None else None
    t = to_tensor(x, device=device)
    return t if t.is_floating_point() else t.to(torch.float32)


def _sparse_labels(y_true, y_pred):
    y = to_tensor(y_true, device=y_pred.device)
    if y.ndim == y_pred.ndim and y.shape[-1] == 1:
        y = y.squeeze(-1)
    if y.dtype != torch.int64:
        y = y.to(torch.int64)
    if tuple(y.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(f"Arguments `target` and `output` must have compatible shapes: labels of shape "
                         f"{tuple(y.shape)} for predictions of shape {tuple(y_pred.shape)}")
    return y


def _check_same_shape(y_true, y_pred, name):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}")


def _clipped_normalized(y_pred, axis):
    probs = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
    return torch.clamp(probs, EPSILON, 1.0 - EPSILON)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    labels = _sparse_labels(y_true, y_pred)
    if axis not in (-1, y_pred.ndim - 1):
        raise NotImplementedError("sparse_categorical_crossentropy: only axis=-1 is supported")
    if ignore_class is not None:
        keep = labels != ignore_class
        labels = torch.where(keep, labels, torch.zeros_like(labels))
    if from_logits:
        flat = F.cross_entropy(y_pred.reshape(-1, y_pred.shape[-1]), labels.reshape(-1), reduction="none")
        values = flat.reshape(labels.shape)
    else:
        log_probs = torch.log(_clipped_normalized(y_pred, -1))
        values = -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if ignore_class is not None:
        values = values * keep.to(values.dtype)
    return values


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _float(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "categorical_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    log_probs = F.log_softmax(y_pred, dim=axis) if from_logits else torch.log(_clipped_normalized(y_pred, axis))
    return -torch.sum(y_true * log_probs, dim=axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _float(y_true, y_pred)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true.unsqueeze(-1)
    _check_same_shape(y_true, y_pred, "binary_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = torch.clamp(y_pred, EPSILON, 1.0 - EPSILON)
        values = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log(1.0 - p))
    return values.mean(dim=axis)


def mean_squared_error(y_true, y_pred):
    y_true = _float(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "mean_squared_error")
    diff = y_pred - y_true
    return (diff * diff).mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true = _float(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "mean_absolute_error")
    return torch.abs(y_pred - y_true).mean(dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true = _float(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "mean_absolute_percentage_error")
    return 100.0 * (torch.abs(y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON)).mean(dim=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true = _float(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "mean_squared_logarithmic_error")
    diff = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0) - torch.log(torch.clamp(y_true, min=EPSILON) + 1.0)
    return (diff * diff).mean(dim=-1)


def huber(y_true, y_pred, delta=1.0):
    y_true = _float(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "huber")
    error = torch.abs(y_pred - y_true)
    quadratic = torch.clamp(error, max=delta)
    return (0.5 * quadratic * quadratic + delta * (error - quadratic)).mean(dim=-1)


def kl_divergence(y_true, y_pred):
    y_true = torch.clamp(_float(y_true, y_pred), EPSILON, 1.0)
    y_pred = torch.clamp(y_pred, EPSILON, 1.0)
    return torch.sum(y_true * torch.log(y_true / y_pred), dim=-1)


def hinge(y_true, y_pred):
    y_true = _float(y_true, y_pred)
    y_true = torch.where(y_true == 0, -torch.ones_like(y_true), y_true)
    return torch.clamp(1.0 - y_true * y_pred, min=0.0).mean(dim=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence

_REDUCTIONS = ("sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none", None)


def _apply_sample_weight(values, sample_weight):
    sw = to_tensor(sample_weight, device=values.device)
    if not sw.is_floating_point():
        sw = sw.to(values.dtype)
    while sw.ndim > values.ndim and sw.shape[-1] == 1:
        sw = sw.squeeze(-1)
    while sw.ndim < values.ndim:
        sw = sw.unsqueeze(-1)
    return values * sw, sw


def _mask_into_weight(mask, sample_weight, values, reduction):
    """Keras's `apply_mask`: the output mask of `y_pred` as sample weights; for the mean
    reductions the kept entries weigh total/kept so that the mean is over the kept ones."""
    mask = mask.to(torch.bool).to(values.device)
    weight = mask.to(values.dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        kept = weight.sum()
        weight = weight * torch.where(kept > 0, mask.numel() / kept.clamp(min=1), 0.0)
    if sample_weight is None:
        return weight
    _, sw = _apply_sample_weight(weight, sample_weight)
    return weight * sw


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras's reduction: weights multiply the per-sample values; `sum_over_batch_size` divides
    the weighted sum by the number of values (not by the sum of weights)."""
    sw = None
    if sample_weight is not None:
        values, sw = _apply_sample_weight(values, sample_weight)
    if reduction in (None, "none"):
        return values
    total = torch.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sw is not None:
        return total / torch.sum(sw.expand(values.shape))
    return total / max(values.numel(), 1)


class Loss:
    """Base class: `__call__(y_true, y_pred, sample_weight=None)` reduces `call`'s per-sample values."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of {_REDUCTIONS}. "
                             f"Received: reduction={reduction}")
        from ._common import to_snake_case
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = get_keras_mask(y_pred)
        values = self.call(y_true, to_tensor(y_pred))  # numpy predictions convert, as in Keras
        if mask is not None:
            sample_weight = _mask_into_weight(mask, sample_weight, values, self.reduction)
        return reduce_values(values, sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


def _loss_class(class_name, fn, default_name, **defaults):
    params = list(defaults)

    def __init__(self, *args, reduction="sum_over_batch_size", name=default_name, dtype=None, **kwargs):
        options = dict(defaults)
        options.update(zip(params, args))
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"{class_name}.__init__() got unexpected keyword arguments {sorted(unknown)}")
        options.update(kwargs)
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype, **options)

    return type(class_name, (LossFunctionWrapper,), {"__init__": __init__})


SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                                            "sparse_categorical_crossentropy", from_logits=False, ignore_class=None)
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
                                      from_logits=False, label_smoothing=0.0, axis=-1)
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                                 from_logits=False, label_smoothing=0.0, axis=-1)
MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                          "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                          "mean_squared_logarithmic_error")
Huber = _loss_class("Huber", huber, "huber_loss", delta=1.0)
KLDivergence = _loss_class("KLDivergence", kl_divergence, "kl_divergence")
Hinge = _loss_class("Hinge", hinge, "hinge")

_FUNCTIONS = {f.__name__: f for f in (sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy,
                                      mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                                      mean_squared_logarithmic_error, huber, kl_divergence, hinge)}
_FUNCTIONS.update(mse=mean_squared_error, mae=mean_absolute_error, mape=mean_absolute_percentage_error,
                  msle=mean_squared_logarithmic_error, kld=kl_divergence, huber_loss=huber)
_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy,
                                    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
                                    MeanSquaredLogarithmicError, Huber, KLDivergence, Hinge)}


def get(identifier):
    """A loss callable from a name, a config dict, a Loss instance or a function."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        fn = _FUNCTIONS.get(identifier)
        if fn is not None:
            return fn
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    if isinstance(loss, Loss):
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    for name, fn in _FUNCTIONS.items():
        if fn is loss:
            return name
    raise ValueError(f"cannot serialize the loss {loss!r}")


def deserialize(config):
    if isinstance(config, str):
        return get(config)
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown loss: {config['class_name']!r}")
    cfg = dict(config.get("config", {}))
    cfg.pop("fn", None)
    return cls(**cfg)
