"""`ferrograd.amp`: automatic mixed precision (`autocast`, `GradScaler`), as `torch.amp`."""
from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "get_autocast_dtype", "is_autocast_enabled"]
