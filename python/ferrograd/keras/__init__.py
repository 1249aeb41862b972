"""`ferrograd.keras`: Keras 3's API on ferrograd's core (`from ferrograd import keras`).

Layers own `keras.Variable`s (ferrograd Parameters) in Keras's layouts (Dense kernel `(in, out)`,
Conv2D kernel `(kh, kw, in, out)`, channels_last data), `fit` runs ferrograd's autograd and
fused optimizer kernels, and models save to and load from Keras 3's `.keras` and `.weights.h5`
files. Variable, ops, optimizers, random, utils and datasets come with GradientTape.
"""
from .._variable import KerasVariable as Variable  # noqa: F401
from . import datasets, ops, optimizers, random, utils  # noqa: F401
from . import activations, backend, callbacks, constraints, initializers, layers, losses, metrics, models, regularizers, saving  # noqa: E402,E501
from . import backend as config  # noqa: E402  (keras.config holds the same settings)
from ._common import clear_session  # noqa: E402
from .layers import Input, InputLayer, Layer  # noqa: E402
from .models import Model, Sequential  # noqa: E402

__version__ = "3.15.1"  # the Keras version whose API and file formats this follows

__all__ = ["Variable", "backend", "config", "datasets", "ops", "optimizers", "random", "utils", "activations", "callbacks",
           "constraints", "initializers", "layers", "losses", "metrics", "models", "regularizers", "saving", "Input", "InputLayer",
           "Layer", "Model", "Sequential", "clear_session"]
