"""`ferrograd.keras`: Keras 3's API on ferrograd's core.

`from ferrograd import keras` in place of `import keras`: layers own ferrograd Parameters in
Keras's layouts (Dense kernel `(in, out)`, Conv2D kernel `(kh, kw, in, out)`, channels_last
data), `fit` runs ferrograd's autograd and fused optimizer kernels, and models save to and load
from Keras 3's `.keras` and `.weights.h5` files.
"""
from . import activations, callbacks, initializers, layers, losses, metrics, models, regularizers, saving
from . import _interim_optimizers as optimizers
from ._common import clear_session
from .layers import Input, InputLayer, Layer
from .models import Model, Sequential

__version__ = "3.15.1"  # the Keras version whose API and file formats this follows

__all__ = ["activations", "callbacks", "initializers", "layers", "losses", "metrics", "models", "optimizers",
           "regularizers", "saving", "Input", "InputLayer", "Layer", "Model", "Sequential", "clear_session"]
