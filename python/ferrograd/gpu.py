"""`ferrograd.gpu`: the GPU backend's device queries (WGSL compute shaders through wgpu on any
Vulkan, Metal or DX12 adapter). `ferrograd.cuda` is the same module under PyTorch's name.

The adapter is the highest-performance one found, unless the environment selects one:
FERROGRAD_GPU_ADAPTER (a substring of the adapter's name) and FERROGRAD_GPU_BACKEND
(vulkan, metal or dx12).
"""
from . import _core


def is_available():
    """True when a GPU adapter can be used (creates the GPU context on first call)."""
    return _core.gpu_is_available()


def device_count():
    return _core.gpu_device_count()


def current_device():
    return 0


def get_device_name(device=None):
    """The adapter's name and backend, e.g. 'llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)'."""
    reason = _core.gpu_unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    return _core.gpu_device_name()


def synchronize(device=None):
    """Waits for all GPU work recorded so far to finish."""
    _core.gpu_synchronize()


def manual_seed(seed):
    """Random numbers are drawn on the CPU and moved, so this seeds the one generator."""
    from . import manual_seed as _seed
    _seed(seed)


manual_seed_all = manual_seed


def unavailable_reason():
    """Why no GPU can be used, or None when one can."""
    return _core.gpu_unavailable_reason()
