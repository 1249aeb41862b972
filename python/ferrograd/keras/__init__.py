"""`ferrograd.keras`: Keras 3's API on ferrograd's core (`from ferrograd import keras`).

Layers own `keras.Variable`s (ferrograd Parameters) in Keras's layouts (Dense kernel `(in, out)`,
Conv2D kernel `(kh, kw, in, out)`, channels_last data), `fit` runs ferrograd's autograd and
fused optimizer kernels, and models save to and load from Keras 3's `.keras` and `.weights.h5`
files. The GradientTape half (branch tape) adds Variable, ops and optimizers.
"""
from .._variable import KerasVariable as Variable  # noqa: F401
from . import ops  # noqa: F401,E402
from . import optimizers  # noqa: F401,E402
from . import activations, callbacks, initializers, layers, losses, metrics, models, regularizers, saving  # noqa: E402
from ._common import clear_session  # noqa: E402
from .layers import Input, InputLayer, Layer  # noqa: E402
from .models import Model, Sequential  # noqa: E402

__version__ = "3.15.1"  # the Keras version whose API and file formats this follows

__all__ = ["Variable", "ops", "optimizers", "activations", "callbacks", "initializers", "layers", "losses",
           "metrics", "models", "regularizers", "saving", "Input", "InputLayer", "Layer", "Model", "Sequential",
           "clear_session"]
