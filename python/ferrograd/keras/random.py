"""`keras.random`: random tensors with Keras 3's seeding rules.

`seed` may be None (the global stream, which `keras.utils.set_random_seed` resets), an int (a
fixed, stateless draw: the same seed always gives the same values), or a `SeedGenerator`
(a stream of its own that advances with every draw). Results land on the default device.
"""
import numbers

import ferrograd as _fg
from .._dtype import get_default_dtype
from ..utils.data import Generator
from .ops import _resolve_dtype, convert_to_tensor

__all__ = ["SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "shuffle", "dropout",
           "categorical"]


class SeedGenerator:
    """A seed state: draws given this generator are reproducible from `seed` and advance it."""

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        if seed is None:
            seed = int(_fg.randint(0, 2 ** 31 - 1, (1,)).item())
        elif not isinstance(seed, numbers.Integral):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed}")
        self.name = name or "seed_generator"
        self._initial_seed = int(seed)
        self._generator = Generator().manual_seed(int(seed))

    def next(self, ordered=True):
        """A new integer seed from the stream."""
        return int(_fg.randint(0, 2 ** 31 - 1, (1,), generator=self._generator).item())

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}


def _generator(seed):
    """The Generator a draw uses: None for the global stream."""
    if seed is None:
        return None
    if isinstance(seed, SeedGenerator):
        return seed._generator
    if isinstance(seed, numbers.Integral):
        return Generator().manual_seed(int(seed))
    raise ValueError(f"Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
                     f"Received: seed={seed} (of type {type(seed)})")


def _float_dtype(dtype):
    d = _resolve_dtype(dtype) or get_default_dtype()
    if not d.is_floating_point:
        raise ValueError(f"The dtype of a float random tensor must be floating, got {d.name}")
    return d


def _shape(shape):
    return (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    d = _float_dtype(dtype)
    return _fg.randn(_shape(shape), dtype=d, generator=_generator(seed)) * stddev + mean


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    d = _float_dtype(dtype)
    return _fg.rand(_shape(shape), dtype=d, generator=_generator(seed)) * (maxval - minval) + minval


def randint(shape, minval, maxval, dtype="int32", seed=None):
    d = _resolve_dtype(dtype)
    if d.is_floating_point:
        raise ValueError(f"`keras.random.randint` requires an integer `dtype`. Received: dtype={dtype}")
    return _fg.randint(int(minval), int(maxval), _shape(shape), generator=_generator(seed)).to(d)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values more than two standard deviations from the mean redrawn."""
    d = _float_dtype(dtype)
    gen = _generator(seed)
    z = _fg.randn(_shape(shape), dtype=d, generator=gen)
    while bool((z.abs() > 2).any()):
        z = _fg.where(z.abs() > 2, _fg.randn(_shape(shape), dtype=d, generator=gen), z)
    return z * stddev + mean


def shuffle(x, axis=0, seed=None):
    x = convert_to_tensor(x)
    perm = _fg.randperm(x.shape[axis], generator=_generator(seed)).to(x.device)
    return _fg.index_select(x, axis, perm)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zeroes each element with probability `rate` and scales the rest by 1 / (1 - rate);
    `noise_shape` (None entries taken from the input) shares the mask along its size-1 axes."""
    x = convert_to_tensor(inputs)
    if not 0 <= rate < 1:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                         f"Received: rate={rate}")
    shape = tuple(x.shape) if noise_shape is None else tuple(
        s if n is None else int(n) for n, s in zip(noise_shape, x.shape))
    keep = uniform(shape, dtype=x.dtype, seed=seed).to(x.device) >= rate
    return _fg.where(keep, x / (1.0 - rate), _fg.zeros_like(x))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """`num_samples` class indices per row of `logits` ([batch, classes]), drawn from softmax(logits)."""
    logits = convert_to_tensor(logits)
    if logits.dim() != 2:
        raise ValueError(f"`logits` should be a 2-D tensor of shape (batch_size, num_classes). "
                         f"Received: logits.shape={tuple(logits.shape)}")
    cdf = _fg.cumsum(_fg.softmax(logits.to(get_default_dtype()), dim=-1), dim=-1)
    u = uniform((logits.shape[0], num_samples), seed=seed).to(logits.device)
    # The sampled class is the number of cumulative probabilities below u (clamped for rounding).
    picks = (u.unsqueeze(-1) > cdf.unsqueeze(1)).sum(-1).clamp(max=logits.shape[1] - 1)
    return picks.to(_resolve_dtype(dtype))
