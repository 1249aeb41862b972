"""ferrograd: a small deep-learning framework with PyTorch's API and a Rust core.

`import ferrograd as torch` runs PyTorch scripts that stay within what ferrograd covers.
"""
import builtins as _builtins

from . import _core
from ._core import Tensor, get_num_threads, set_num_threads  # noqa: F401
from ._device import device, get_default_device, set_default_device
from ._dtype import (bool_ as bool, dtype, float32, float64, get_default_dtype, int64,
                     set_default_dtype)
from . import _tensor, _repr  # noqa: F401  (installs the Tensor methods)
from . import _interop  # noqa: E402
_interop.install()
from ._tensor import *  # noqa: F401,F403
from ._tensor import Size, _UNARY

float = float32
double = float64
long = int64
int = int64

for _n in _UNARY:
    globals()[_n] = getattr(_tensor, _n)
from ._tensor import (abs, all, any, max, min, pow, round, sum)  # noqa: E402,F401  (shadow builtins as torch does)

from . import autograd  # noqa: E402
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from . import backends, cuda, gpu, nn, optim, utils  # noqa: E402,F401
from .utils.data import Generator  # noqa: E402,F401
from ._io import load, save  # noqa: E402,F401
from ._variable import Variable  # noqa: E402,F401
from ._tape import GradientTape, UnconnectedGradients  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [n for n in dir() if not n.startswith("_")]
del _n
