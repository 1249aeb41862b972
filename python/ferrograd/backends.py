"""`torch.backends` flags that scripts set; ferrograd has no cuDNN or MPS, so they change nothing."""
import types

cudnn = types.SimpleNamespace(benchmark=False, deterministic=False, enabled=True, allow_tf32=True,
                              is_available=lambda: False)
mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
