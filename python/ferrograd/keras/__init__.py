"""`ferrograd.keras`: Keras 3's API on ferrograd's core (`from ferrograd import keras`)."""
# GradientTape half (branch tape): variables, ops, random, utils, datasets, optimizers.
from .._variable import KerasVariable as Variable  # noqa: F401
from . import datasets, ops, optimizers, random, utils  # noqa: F401
