"""`ferrograd.cuda`: PyTorch's name for the GPU module, so CUDA scripts run on any GPU."""
from .gpu import (current_device, device_count, get_device_name, is_available, manual_seed,  # noqa: F401
                  manual_seed_all, synchronize, unavailable_reason)
