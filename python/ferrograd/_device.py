"""Device objects. The CPU is always present; the GPU backend registers itself when built."""
import threading


class device:
    """`device("cpu")`, `device("gpu:0")`; "cuda" is an alias of the GPU device."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device() expected a string or device, got {type!r}")
        kind, _, idx = type.partition(":")
        if kind == "cuda":
            kind = "gpu"
        if kind not in ("cpu", "gpu"):
            raise RuntimeError(
                f"Expected one of cpu, gpu, cuda device type at start of device string: {type}"
            )
        if idx:
            if index is not None:
                raise RuntimeError(f"device string {type!r} already has an index")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        self.type, self.index = kind, index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index or 0) == (other.type, other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __repr__(self):
        fields = f"type='{self.type}'" if self.index is None else f"type='{self.type}', index={self.index}"
        if self.type == "gpu" and _gpu_reason() is None:
            # Which adapter "gpu" means here (PyTorch's repr has no such field).
            from . import _core
            fields += f", name='{_core.gpu_device_name()}'"
        return f"device({fields})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")

# Where factory functions (tensor, zeros, randn, ...) put tensors when no `device=` is given.
# `_creating` is set while a factory runs, so the factories it calls internally build on the CPU
# and only the outermost result moves to the requested device.
_default = CPU
_creating = threading.local()


def set_default_device(d):
    """PyTorch's `torch.set_default_device`: factory functions place tensors on `d`
    (None means the CPU). `from_numpy` and ops on existing tensors are not affected."""
    global _default
    _default = CPU if d is None else check_device(d)


def get_default_device():
    return _default


def default_device():
    """The device for a factory call that names none (the CPU inside another factory)."""
    return CPU if getattr(_creating, "depth", 0) else _default


def _gpu_reason():
    from . import _core
    return _core.gpu_unavailable_reason()


def check_device(d):
    """Normalises a `device=` argument; a GPU device is accepted when an adapter is usable."""
    if d is None:
        return CPU
    d = device(d) if not isinstance(d, device) else d
    if d.type != "cpu":
        reason = _gpu_reason()
        if reason is not None:
            raise RuntimeError(f"device '{d}' is not available: {reason} (ferrograd.gpu.is_available() is False)")
        if (d.index or 0) != 0:
            raise RuntimeError(f"Invalid device {d}: gpu index {d.index} out of range (1 GPU device is available)")
        return device("gpu", 0)
    return d
