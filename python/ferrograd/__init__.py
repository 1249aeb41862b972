"""ferrograd: a small deep-learning framework with PyTorch's API and a Rust core.

`import ferrograd as torch` runs PyTorch scripts that stay within what ferrograd covers.
"""
from . import _core, _registry
from ._core import Tensor, get_num_threads, set_num_threads  # noqa: F401
from ._device import device, get_default_device, set_default_device
from ._dtype import (ALIASES as _DTYPE_ALIASES, bfloat16, bool_ as bool, dtype, finfo, float16, float32, float64,
                     get_default_dtype, iinfo, int8, int16, int32, int64, set_default_dtype, uint8)
from . import _tensor, _repr, _interop  # noqa: F401  (register the Tensor API)
from ._tensor import Size

# `ferrograd.<name>` for every registered function (some shadow builtins, as torch's do).
globals().update(_registry.FUNCTIONS)

# torch.half, torch.float, torch.double, torch.short, torch.int, torch.long, torch.char, torch.byte
globals().update(_DTYPE_ALIASES)

from . import autograd  # noqa: E402
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from . import amp, backends, cuda, gpu, nn, optim, utils  # noqa: E402,F401
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402,F401
from .utils.data import Generator  # noqa: E402,F401
from ._io import load, save  # noqa: E402,F401
from ._variable import Variable  # noqa: E402,F401
from ._tape import GradientTape, UnconnectedGradients  # noqa: E402,F401
from ._compile import compile  # noqa: E402,F401
from . import jit  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [n for n in dir() if not n.startswith("_")]
